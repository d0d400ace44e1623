"""When a benchmark is complete, and what is announced then. Shared by both runtimes.

A benchmark is complete when every planned model x task x sample has a stored score. Scores are
upserts keyed by sample, so counting stored scores counts each sample once however often its
shard was delivered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from services.aggregator.baselines import drift_section
from services.aggregator.report import build_report
from services.aggregator.store import BenchmarkRecord, BenchmarkStore
from shared.events import BenchmarkCompleted

__all__ = ["complete_if_done", "completion_event"]


async def complete_if_done(
    store: BenchmarkStore,
    benchmark_id: str,
    *,
    scored: int | None = None,
    bootstrap_seed: int,
    bootstrap_resamples: int,
    on_completed: Callable[[BenchmarkRecord], None] | None = None,
) -> BenchmarkRecord | None:
    """Build and store the report once every planned sample is scored.

    `scored` is the caller's count of stored scores, if it keeps one (else the store counts).
    `on_completed` hears of the completion when it happens here (not when it had happened before).
    Returns the record when the benchmark is finished (now or before: completed or failed), so
    the caller can announce it; None while samples are still missing.
    """
    record = await store.get_benchmark(benchmark_id)
    if record is None or record.plan is None:
        return None  # scores can overtake their plan: the plan's arrival checks again
    if record.status in ("completed", "failed"):
        return record
    if scored is None:
        scored = await store.count_scores(benchmark_id)
    if scored < record.plan.expected_samples:
        return None
    loaded = await store.load_scores(benchmark_id)
    if len(loaded) < record.plan.expected_samples:  # a stale count: never report half a benchmark
        return None
    report = build_report(
        record.plan,
        loaded,
        status="completed",
        bootstrap_seed=bootstrap_seed,
        bootstrap_resamples=bootstrap_resamples,
    )
    finished = dataclasses.replace(record, status="completed", report=report, reason=None)
    drift = await drift_section(store, finished, (finished, loaded), seed=bootstrap_seed)
    if drift is not None:
        report["drift"] = drift
    await store.complete(benchmark_id, report)
    if on_completed is not None:
        on_completed(finished)
    return finished


def completion_event(record: BenchmarkRecord) -> BenchmarkCompleted:
    return BenchmarkCompleted(
        tenant=record.tenant,
        benchmark_id=record.benchmark_id,
        name=record.name,
        suite=record.suite,
        status="completed" if record.status == "completed" else "failed",
        reason=record.reason,
        results=(record.report or {}).get("results", []),
        drift=(record.report or {}).get("drift"),
    )
