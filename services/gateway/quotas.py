"""Per-tenant quotas (BENCH_QUOTAS): how much of a shared service one tenant may ask for.

Checked before anything is stored. Two gateways answering at the same instant may both let one
benchmark past a quota's edge: quotas keep a tenant from crowding out the others, they are not
billing, so that is accepted rather than serialising every submission on one document.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from shared.errors import OverQuota
from shared.results.mongo_store import MongoStore
from shared.settings import TenantQuota

__all__ = ["check_quota", "DAY"]

DAY = timedelta(days=1)


async def check_quota(
    store: MongoStore, quota: TenantQuota, *, evaluations: int | None, now: datetime, busy_retry_s: int
) -> None:
    """Raise OverQuota if the store's tenant may not start a benchmark of `evaluations` model x
    sample evaluations now (None: not known before planning; only the in-flight quota applies)."""
    tenant = store.tenant
    if evaluations is not None and quota.largest_benchmark is not None and evaluations > quota.largest_benchmark:
        raise OverQuota(
            "largestBenchmark",
            f"this benchmark asks for {evaluations:,} model x sample evaluations; tenant {tenant!r} may ask"
            f" for at most {quota.largest_benchmark:,} in one benchmark: set a task 'limit' or split it",
            None,
        )
    if quota.benchmarks_in_flight is not None:
        running = await store.count_in_flight()
        if running >= quota.benchmarks_in_flight:
            raise OverQuota(
                "benchmarksInFlight",
                f"tenant {tenant!r} has {running} benchmarks pending or running, its quota is"
                f" {quota.benchmarks_in_flight}: retry when one has finished",
                busy_retry_s,
            )
    if evaluations is not None and quota.evaluations_per_day is not None:
        window = await store.evaluations_since(now - DAY)
        used = sum(count for _, count in window)
        if used + evaluations > quota.evaluations_per_day:
            raise OverQuota(
                "evaluationsPerDay",
                f"tenant {tenant!r} asked for {used:,} model x sample evaluations in the last 24 hours; with"
                f" this benchmark's {evaluations:,} that passes its quota of {quota.evaluations_per_day:,}",
                _seconds_until_room(window, used + evaluations - quota.evaluations_per_day, now),
            )


def _seconds_until_room(window: list[tuple[datetime, int]], excess: int, now: datetime) -> int | None:
    """When enough of the window's oldest benchmarks leave it to make room; None if never."""
    for created_at, count in window:
        excess -= count
        if excess <= 0:
            return max(1, math.ceil((created_at + DAY - now).total_seconds()))
    return None  # larger than the whole quota: caught as largestBenchmark when that is set lower
