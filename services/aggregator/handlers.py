"""Aggregator subscribers: store plans and scores; announce a benchmark once it is complete."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from services.aggregator.telemetry import AggregatorTelemetry
from shared import topics
from shared.events import BenchmarkPlanned, DeadLetter, SampleScores, utc_now
from shared.messaging import Outgoing
from shared.results.completion import complete_if_done, completion_event, fail_benchmark
from shared.results.report import PlanSamples, ScoredSample
from shared.results.store import TrackedStore
from shared.settings import Settings

__all__ = ["AggregatorHandlers"]

TALLY_SIZE = 10_000
"""Benchmarks whose tally is kept; one forgotten is counted in the store again when next seen."""
NOTE_EVERY_S = 1.0
"""The tally is noted for the reconciler and progress readers at most this often per benchmark
(a store write per shard cost as much as storing the shard's scores)."""


FOLDED_SAMPLES = 1_000_000
"""Most scores kept folded in memory across the benchmarks in flight (about 100 bytes each);
past it a benchmark's report reads its scores back from the store, as after a restart."""


@dataclass(slots=True)
class Tally:
    """What this replica knows of a benchmark it stores scores of."""

    scored: int
    expected: int | None = None
    """Samples planned, once the plan is stored: below it, nothing needs reading to know it is not complete."""
    noted_at: float = -math.inf
    folded: PlanSamples | None = None
    """Every score stored of it, folded in as stored, when this replica saw all of them stored
    (from the first, each insert wholly new, the plan known): its report needs no read back.
    None otherwise: the report reads the scores back from the store."""
    whole: bool = False
    """No score of it was stored before this replica's first insert (a fold may start)."""


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
        self._tally: OrderedDict[tuple[str, str], Tally] = OrderedDict()
        """(tenant, benchmark id) -> scores stored, as far as this replica knows."""
        self._folded = 0
        """Scores held in the tallies' folds."""

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
        if (tally := self._tally.get((plan.tenant, plan.benchmark_id))) is not None:
            tally.expected = None  # planned again (a re-drive): read the plan again
            self._unfold(tally)
        if plan.error is not None:
            await store.fail(plan.benchmark_id, f"planning failed: {plan.error}")
            self._telemetry.observe_failure(plan.tenant)
        return await self._announce_if_done(store, plan.benchmark_id)

    async def on_sample_scores(self, scores: SampleScores) -> list[Outgoing]:
        store, benchmark_id = self._store(scores.tenant), scores.benchmark_id
        key = (scores.tenant, benchmark_id)
        try:
            added = await store.save_scores(scores)
        except BaseException:
            # the insert may still be applied after we gave up on it: count in the store next time
            self._tally.pop(key, None)
            raise
        tally = self._tally.get(key)
        rows = [ScoredSample(scores.model, scores.task, score) for score in scores.scores]
        if tally is not None and added == len(scores.scores):
            tally.scored += added
            self._fold(tally, rows)
        else:
            # new to this replica, or some samples were stored before (a redelivery, or an
            # insert that timed out here but was applied): the tally may be stale, so re-count
            if tally is not None:
                self._unfold(tally)
            counted = await store.count_scores(benchmark_id)
            tally = self._tally[key] = Tally(scored=counted, whole=counted == added == len(scores.scores))
            if len(self._tally) > TALLY_SIZE:
                self._unfold(self._tally.popitem(last=False)[1])
        self._tally.move_to_end(key)
        if (now := time.monotonic()) - tally.noted_at >= NOTE_EVERY_S:
            # what the reconciler reads to tell a moving benchmark from a stalled one, without counting
            await store.note_progress(benchmark_id, scored=tally.scored, at=utc_now())
            tally.noted_at = now
        if tally.expected is None:
            record = await store.get_benchmark(benchmark_id)
            plan = record.plan if record is not None else None
            tally.expected = plan.expected_samples if plan is not None else None
            if plan is not None and tally.whole and tally.scored == len(rows):  # this insert is all it has stored
                tally.folded = PlanSamples(plan)
                self._fold(tally, rows)
            tally.whole = False
        if tally.expected is not None and tally.scored < tally.expected:
            return []  # samples are missing: no need to read the benchmark to know it is not complete
        announced = await self._announce_if_done(store, benchmark_id, scored=tally.scored, collected=tally.folded)
        if announced:
            self._unfold(tally)  # finished: its report is stored
        return announced

    def _fold(self, tally: Tally, rows: list[ScoredSample]) -> None:
        if tally.folded is None:
            return
        if self._folded + len(rows) > FOLDED_SAMPLES:
            self._unfold(tally)  # too much held: this one's report reads its scores back
            return
        tally.folded.add(rows)
        self._folded += len(rows)

    def _unfold(self, tally: Tally) -> None:
        if tally.folded is not None:
            self._folded -= tally.folded.added
            tally.folded = None
        tally.whole = False

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

    async def _announce_if_done(
        self, store: TrackedStore, benchmark_id: str, *, scored: int | None = None, collected: PlanSamples | None = None
    ) -> list[Outgoing]:
        # A redelivered message for a finished benchmark announces it again: at least once,
        # so a crash between storing the report and publishing it loses nothing.
        record = await complete_if_done(
            store,
            benchmark_id,
            scored=scored,
            collected=collected,
            on_completed=self._telemetry.observe_completion,
            bootstrap_seed=self._settings.bootstrap_seed,
            bootstrap_resamples=self._settings.bootstrap_resamples,
        )
        if record is None:
            return []
        return [Outgoing(topics.BENCHMARKS_COMPLETED, benchmark_id, completion_event(record))]
