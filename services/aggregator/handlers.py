"""Aggregator subscribers: store plans and scores; announce a benchmark once it is complete."""

from __future__ import annotations

from services.aggregator.completion import complete_if_done, completion_event
from services.aggregator.store import BenchmarkStore
from shared import topics
from shared.events import BenchmarkPlanned, SampleScores
from shared.messaging import Outgoing
from shared.settings import Settings

__all__ = ["AggregatorHandlers"]


class AggregatorHandlers:
    def __init__(self, settings: Settings, store: BenchmarkStore | None = None) -> None:
        self._settings = settings
        self._open_store = store

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
        return await self._announce_if_done(plan.benchmark_id)

    async def on_sample_scores(self, scores: SampleScores) -> list[Outgoing]:
        await self._store.save_scores(scores)
        return await self._announce_if_done(scores.benchmark_id)

    async def _announce_if_done(self, benchmark_id: str) -> list[Outgoing]:
        # A redelivered message for a finished benchmark announces it again: at least once,
        # so a crash between storing the report and publishing it loses nothing.
        record = await complete_if_done(
            self._store,
            benchmark_id,
            bootstrap_seed=self._settings.bootstrap_seed,
            bootstrap_resamples=self._settings.bootstrap_resamples,
        )
        if record is None:
            return []
        return [Outgoing(topics.BENCHMARKS_COMPLETED, benchmark_id, completion_event(record))]
