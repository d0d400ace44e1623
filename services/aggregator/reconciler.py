"""The reconciler: nothing stays `pending` or `running` forever.

Every round (one aggregator replica per round) it looks at each unfinished benchmark:
- accepted but never queued (Kafka was away when it was submitted) for `outbox_grace_s`:
  its request is published from the outbox;
- all its scores are stored but it was never completed (a completion count went stale):
  it is completed now;
- no new score for two rounds: its scores are counted in the store (the aggregator notes its
  tally on every shard, so busy benchmarks cost no count); a count that moved is noted;
- no new score for `stall_timeout_s`: its missing shards are re-driven (the request is sent again
  naming them, so only they run again), at most `max_redrives` times; then it fails with the reason.

Pure logic over a store and a publish function, both injected (a clock too), so it is tested
without servers; services/aggregator/app.py runs it in a loop.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared import topics
from shared.errors import InfrastructureError, MessageTooLarge
from shared.events import BenchmarkPlanned, BenchmarkRequested, Redrive, ShardRef, utc_now
from shared.messaging import Outgoing
from shared.results.completion import complete_if_done, completion_event, fail_benchmark
from shared.results.store import BenchmarkRecord, InFlight, TrackedStore
from shared.settings import Settings

__all__ = ["Reconciler", "RoundReport", "missing_shards"]

log = logging.getLogger(__name__)

ROUND_LIMIT = 1000
"""Unfinished benchmarks looked at in one round (oldest first); the rest wait for the next."""


@dataclass(slots=True)
class RoundReport:
    """What one round did, by benchmark id (for logs and tests)."""

    published: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def missing_shards(plan: BenchmarkPlanned, counts: dict[tuple[str, str, int], int]) -> list[ShardRef] | None:
    """Shards with fewer stored scores than samples; None when the plan does not say its shards
    (made before plans did), so everything must run again."""
    if any(not task.shard_sizes for task in plan.tasks):
        return None
    return [
        ShardRef(model=model, task=task.name, shard=index)
        for model in plan.models
        for task in plan.tasks
        for index, size in enumerate(task.shard_sizes)
        if counts.get((model, task.name, index), 0) < size
    ]


class Reconciler:
    def __init__(
        self,
        store: TrackedStore,
        *,
        publish: Callable[[Outgoing], Awaitable[None]],
        settings: Settings,
        on_completed: Callable[[BenchmarkRecord], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._publish = publish
        self._settings = settings
        self._on_completed = on_completed
        self._on_failed = on_failed
        self._clock = clock

    async def run_round(self) -> RoundReport:
        """One pass over the unfinished benchmarks. An unreachable store or broker ends the round
        (InfrastructureError propagates: the next round tries again); any other failure is logged
        and the round goes on with the next benchmark."""
        report = RoundReport()
        for entry in await self._store.unfinished(limit=ROUND_LIMIT):
            try:
                await self._reconcile(self._store.for_tenant(entry.tenant), entry, report)
            except InfrastructureError:
                raise
            except Exception:  # a bug must not stop every other benchmark's repair
                log.exception("reconciling %s failed", entry.benchmark_id)
        for what, ids in (
            ("published from the outbox", report.published),
            ("completed", report.completed),
            ("re-driven", report.redriven),
            ("failed", report.failed),
        ):
            if ids:
                log.info("reconciler: %s %s", what, ", ".join(ids))
        return report

    async def _reconcile(self, store: TrackedStore, entry: InFlight, report: RoundReport) -> None:
        now = self._clock()
        benchmark_id = entry.benchmark_id
        record = await store.get_benchmark(benchmark_id)
        if record is None and entry.request is not None:
            # the outbox entry was written, the benchmark's own document not (the gateway gave up)
            await store.create_benchmark(BenchmarkRequested.model_validate_json(entry.request))
            record = await store.get_benchmark(benchmark_id)
        if record is None or record.status in ("completed", "failed"):
            await store.forget_in_flight(benchmark_id)
            return
        if not entry.queued:
            if (now - entry.created_at).total_seconds() >= self._settings.outbox_grace_s and await self._send(
                store, record, BenchmarkRequested.model_validate_json(entry.request or ""), report
            ):
                await store.mark_queued(benchmark_id)
                await store.note_progress(benchmark_id, scored=0, at=now)
                report.published.append(benchmark_id)
            return

        progress_at = entry.progress_at
        if progress_at is None:  # first sight: the stall clock starts now
            scored = await store.count_scores(benchmark_id)
            await store.note_progress(benchmark_id, scored=scored, at=now)
            progress_at = now
            entry = dataclasses.replace(entry, scored=scored, progress_at=progress_at)
        elif (now - progress_at).total_seconds() < 2 * self._settings.reconcile_interval_s and not self._all_scored(
            record, entry.scored
        ):
            return  # scores are arriving (the aggregator notes each shard): nothing to count
        else:  # idle, or the aggregator's tally says done: count in the store, which is never stale
            scored = await store.count_scores(benchmark_id)
        if self._all_scored(record, scored):
            finished = await complete_if_done(
                store,
                benchmark_id,
                scored=scored,
                on_completed=self._on_completed,
                bootstrap_seed=self._settings.bootstrap_seed,
                bootstrap_resamples=self._settings.bootstrap_resamples,
            )
            if finished is not None:
                await self._publish(Outgoing(topics.BENCHMARKS_COMPLETED, benchmark_id, completion_event(finished)))
                report.completed.append(benchmark_id)
                return
        if entry.scored != scored:  # moved since the last note
            await store.note_progress(benchmark_id, scored=scored, at=now)
            return
        idle_s = (now - progress_at).total_seconds()
        if idle_s < self._settings.stall_timeout_s:
            return

        expected = record.plan.expected_samples if record.plan is not None else None
        if entry.redrives >= self._settings.max_redrives or entry.request is None:
            tries = (
                f"after {entry.redrives} re-drives"
                if entry.request is not None
                else "and its request is not stored to re-drive it"
            )
            await self._fail(
                store,
                record,
                f"stalled: no new score for {idle_s:.0f}s {tries};"
                f" {scored} of {expected if expected is not None else 'an unknown number of'} samples scored",
                report,
            )
            return
        shards = missing_shards(record.plan, await store.shard_counts(benchmark_id)) if record.plan else None
        request = BenchmarkRequested.model_validate_json(entry.request).model_copy(
            update={"redrive": Redrive(attempt=entry.redrives + 1, shards=shards)}
        )
        if await self._send(store, record, request, report):
            await store.note_progress(benchmark_id, scored=scored, at=now, redrives=entry.redrives + 1)
            report.redriven.append(benchmark_id)

    @staticmethod
    def _all_scored(record: BenchmarkRecord, scored: int | None) -> bool:
        return record.plan is not None and scored is not None and scored >= record.plan.expected_samples

    async def _send(self, store: TrackedStore, record: BenchmarkRecord, request: BenchmarkRequested, report: RoundReport) -> bool:
        """Publish `request`; False (and the benchmark failed) when it can never be published."""
        try:
            await self._publish(Outgoing(topics.BENCHMARKS_REQUESTED, request.benchmark_id, request))
        except MessageTooLarge as exc:  # say so instead of trying forever
            await self._fail(store, record, f"could not be queued: {exc}", report)
            return False
        return True

    async def _fail(self, store: TrackedStore, record: BenchmarkRecord, reason: str, report: RoundReport) -> None:
        announcement = await fail_benchmark(store, record.benchmark_id, reason)
        if self._on_failed is not None:
            self._on_failed(record.tenant)
        if announcement is not None:
            await self._publish(Outgoing(topics.BENCHMARKS_COMPLETED, record.benchmark_id, announcement))
        report.failed.append(record.benchmark_id)
