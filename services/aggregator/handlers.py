"""Aggregator subscribers: store plans and scores; announce a benchmark once it is complete."""

from __future__ import annotations

from collections import OrderedDict

from services.aggregator.telemetry import AggregatorTelemetry
from shared import topics
from shared.events import BenchmarkPlanned, DeadLetter, SampleScores, utc_now
from shared.messaging import Outgoing
from shared.results.completion import complete_if_done, completion_event, fail_benchmark
from shared.results.store import TrackedStore
from shared.settings import Settings

__all__ = ["AggregatorHandlers"]

TALLY_SIZE = 10_000
"""Benchmarks whose tally is kept; one forgotten is counted in the store again when next seen."""


class AggregatorHandlers:
    """Scores are keyed by benchmark, so one aggregator consumes all of a benchmark's scores
    (Kafka gives a partition to one group member at a time). It tallies newly stored scores in
    memory, and counts them in the store whenever the tally may be stale (first sight after a
    start or a rebalance, a failed or partly duplicate insert): completion never depends on a
    counter in a shared document. The reconciler re-checks running benchmarks too."""

    def __init__(
        self, settings: Settings, store: TrackedStore | None = None, telemetry: AggregatorTelemetry | None = None
    ) -> None:
        self._settings = settings
        self._open_store = store
        self._telemetry = telemetry or AggregatorTelemetry()
        self._tally: OrderedDict[tuple[str, str], int] = OrderedDict()
        """(tenant, benchmark id) -> scores stored, as far as this replica knows."""

    def attach(self, store: TrackedStore) -> None:
        """Give the handlers their store, opened at start-up in the serving event loop."""
        self._open_store = store

    def _store(self, tenant: str) -> TrackedStore:
        """The store bound to the event's tenant: every read and write stays within it."""
        if self._open_store is None:
            raise RuntimeError("the aggregator's store is not open yet")
        return self._open_store.for_tenant(tenant)

    async def on_benchmark_planned(self, plan: BenchmarkPlanned) -> list[Outgoing]:
        store = self._store(plan.tenant)
        await store.save_plan(plan)
        if plan.error is not None:
            await store.fail(plan.benchmark_id, f"planning failed: {plan.error}")
            self._telemetry.observe_failure(plan.tenant)
        return await self._announce_if_done(store, plan.benchmark_id)

    async def on_sample_scores(self, scores: SampleScores) -> list[Outgoing]:
        store, benchmark_id = self._store(scores.tenant), scores.benchmark_id
        tally = (scores.tenant, benchmark_id)
        try:
            added = await store.save_scores(scores)
        except BaseException:
            # the insert may still be applied after we gave up on it: count in the store next time
            self._tally.pop(tally, None)
            raise
        if tally in self._tally and added == len(scores.scores):
            self._tally[tally] += added
            self._tally.move_to_end(tally)
        else:
            # new to this replica, or some samples were stored before (a redelivery, or an
            # insert that timed out here but was applied): the tally may be stale, so re-count
            self._tally[tally] = await store.count_scores(benchmark_id)
            self._tally.move_to_end(tally)
            if len(self._tally) > TALLY_SIZE:
                self._tally.popitem(last=False)
        # what the reconciler reads to tell a moving benchmark from a stalled one, without counting
        await store.note_progress(benchmark_id, scored=self._tally[tally], at=utc_now())
        return await self._announce_if_done(store, benchmark_id, scored=self._tally[tally])

    async def on_dead_letter(self, letter: DeadLetter) -> list[Outgoing]:
        """A message of a benchmark could not be processed: fail that benchmark with the reason,
        so it never stays pending or running (DESIGN.md, "Trust boundaries")."""
        if letter.benchmark_id is None:
            return []
        store = self._store(letter.tenant)
        record = await store.get_benchmark(letter.benchmark_id)
        if record is None or record.status in ("completed", "failed"):
            return []
        reason = f"dead-lettered by the {letter.service} from {letter.topic}: {letter.error}"
        announcement = await fail_benchmark(store, letter.benchmark_id, reason)
        self._telemetry.observe_failure(record.tenant)
        return [Outgoing(topics.BENCHMARKS_COMPLETED, letter.benchmark_id, announcement)] if announcement else []

    async def _announce_if_done(self, store: TrackedStore, benchmark_id: str, *, scored: int | None = None) -> list[Outgoing]:
        # A redelivered message for a finished benchmark announces it again: at least once,
        # so a crash between storing the report and publishing it loses nothing.
        record = await complete_if_done(
            store,
            benchmark_id,
            scored=scored,
            on_completed=self._telemetry.observe_completion,
            bootstrap_seed=self._settings.bootstrap_seed,
            bootstrap_resamples=self._settings.bootstrap_resamples,
        )
        if record is None:
            return []
        return [Outgoing(topics.BENCHMARKS_COMPLETED, benchmark_id, completion_event(record))]
