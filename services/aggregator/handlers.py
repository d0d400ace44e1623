"""Aggregator subscribers: store plans and scores; announce a benchmark once it is complete."""

from __future__ import annotations

from collections import OrderedDict

from services.aggregator.completion import complete_if_done, completion_event
from services.aggregator.store import BenchmarkStore
from services.aggregator.telemetry import AggregatorTelemetry
from shared import topics
from shared.events import BenchmarkPlanned, SampleScores
from shared.messaging import Outgoing
from shared.settings import Settings

__all__ = ["AggregatorHandlers"]

TALLY_SIZE = 10_000
"""Benchmarks whose tally is kept; one forgotten is counted in the store again when next seen."""


class AggregatorHandlers:
    """Scores are keyed by benchmark, so one aggregator consumes all of a benchmark's scores
    (Kafka gives a partition to one group member at a time). It tallies newly stored scores in
    memory, seeded with a real count the first time it sees a benchmark (after a start or a
    rebalance): completion never depends on a counter in a shared document."""

    def __init__(
        self, settings: Settings, store: BenchmarkStore | None = None, telemetry: AggregatorTelemetry | None = None
    ) -> None:
        self._settings = settings
        self._open_store = store
        self._telemetry = telemetry or AggregatorTelemetry()
        self._tally: OrderedDict[str, int] = OrderedDict()

    def attach(self, store: BenchmarkStore) -> None:
        """Give the handlers their store, opened at start-up in the serving event loop."""
        self._open_store = store

    @property
    def _store(self) -> BenchmarkStore:
        if self._open_store is None:
            raise RuntimeError("the aggregator's store is not open yet")
        return self._open_store

    async def on_benchmark_planned(self, plan: BenchmarkPlanned) -> list[Outgoing]:
        await self._store.save_plan(plan)
        if plan.error is not None:
            await self._store.fail(plan.benchmark_id, f"planning failed: {plan.error}")
            self._telemetry.benchmarks.labels(status="failed").inc()
        return await self._announce_if_done(plan.benchmark_id)

    async def on_sample_scores(self, scores: SampleScores) -> list[Outgoing]:
        added = await self._store.save_scores(scores)
        benchmark_id = scores.benchmark_id
        if benchmark_id in self._tally:
            self._tally[benchmark_id] += added
            self._tally.move_to_end(benchmark_id)
        else:
            self._tally[benchmark_id] = await self._store.count_scores(benchmark_id)
            if len(self._tally) > TALLY_SIZE:
                self._tally.popitem(last=False)
        return await self._announce_if_done(benchmark_id, scored=self._tally[benchmark_id])

    async def _announce_if_done(self, benchmark_id: str, *, scored: int | None = None) -> list[Outgoing]:
        # A redelivered message for a finished benchmark announces it again: at least once,
        # so a crash between storing the report and publishing it loses nothing.
        record = await complete_if_done(
            self._store,
            benchmark_id,
            scored=scored,
            on_completed=self._telemetry.observe_completion,
            bootstrap_seed=self._settings.bootstrap_seed,
            bootstrap_resamples=self._settings.bootstrap_resamples,
        )
        if record is None:
            return []
        return [Outgoing(topics.BENCHMARKS_COMPLETED, benchmark_id, completion_event(record))]
