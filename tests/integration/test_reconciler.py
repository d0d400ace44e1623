"""The reconciler and the aggregator's self-repairing completion, on a real MongoDB-compatible
server (FerretDB in CI), with the publish function and the clock injected."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.aggregator.handlers import AggregatorHandlers
from services.aggregator.reconciler import Reconciler
from services.runner.planner import plan_benchmark
from shared import topics
from shared.datasets import load_task_dataset
from shared.events import BenchmarkRequested, DeadLetter, SampleScore, SampleScores, WorkItem, utc_now
from shared.messaging import Outgoing
from shared.results.mongo_store import MongoStore
from shared.results.report import PlanSamples, report_from
from shared.results.store import BenchmarkRecord
from shared.settings import Settings
from shared.spec import parse_spec

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(settings: Settings, mongo):
    opened = await MongoStore.connect(settings)
    yield opened
    await opened.close()


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _request(benchmark_id: str = "bm_rec", samples: int = 10) -> BenchmarkRequested:
    records = [{"id": f"q{i}", "question": f"question {i}", "answers": ["a"]} for i in range(samples)]
    spec = parse_spec(
        {"name": "rec", "models": ["builtin:lead"], "tasks": [{"name": "qa", "type": "qa", "dataset": {"records": records}}]}
    )
    return BenchmarkRequested(benchmark_id=benchmark_id, spec=spec)


def _scores(item: WorkItem) -> SampleScores:
    return SampleScores(
        benchmark_id=item.benchmark_id,
        model=item.model.name,
        task=item.task.name,
        shard=item.shard,
        scores=[
            SampleScore(sample_id=s.id, scores={"exact-match": 100.0, "f1-score": 100.0}, prediction="a", latency_ms=1.0)
            for s in item.samples
        ],
    )


def _plan(request: BenchmarkRequested, shard_size: int = 4):
    datasets = {t.name: load_task_dataset(t, base_dir=Path.cwd()) for t in request.spec.tasks}
    return plan_benchmark(request, datasets, shard_size=shard_size, max_message_bytes=900_000)


def _reconciler(store: MongoStore, settings: Settings, clock: Clock, sent: list[Outgoing], **changes: object) -> Reconciler:
    async def publish(outgoing: Outgoing) -> None:
        sent.append(outgoing)

    tuned = settings.model_copy(update={"outbox_grace_s": 10, "stall_timeout_s": 60, "max_redrives": 2, **changes})
    return Reconciler(store, publish=publish, settings=tuned, clock=clock)


async def test_a_benchmark_kafka_never_took_is_published_from_the_outbox(store: MongoStore, settings: Settings) -> None:
    clock, sent = Clock(), []
    reconciler = _reconciler(store, settings, clock, sent)
    request = _request()
    assert await store.create_benchmark(request) is True
    assert await store.create_benchmark(request) is False  # a replay changes nothing

    clock.now = request.requested_at + timedelta(seconds=5)
    assert (await reconciler.run_round()).published == [] and sent == []  # the gateway may still be publishing it
    clock.advance(10)
    assert (await reconciler.run_round()).published == ["bm_rec"]
    [outgoing] = sent
    assert outgoing.topic == topics.BENCHMARKS_REQUESTED and outgoing.event == request  # the request as first sent
    [entry] = await store.unfinished(limit=10)
    assert entry.queued and entry.scored == 0
    assert (await reconciler.run_round()).published == []  # once


async def test_a_benchmark_whose_scores_are_all_stored_completes_even_if_its_count_went_stale(
    store: MongoStore, settings: Settings
) -> None:
    request = _request()
    plan, work = _plan(request)
    await store.create_benchmark(request)
    await store.mark_queued(request.benchmark_id)
    handlers = AggregatorHandlers(settings, store)
    await handlers.on_benchmark_planned(plan)
    assert await handlers.on_sample_scores(_scores(work[0])) == []  # the tally is seeded
    [entry] = await store.unfinished(limit=10)
    assert entry.scored == 4 and entry.progress_at is not None  # noted for the reconciler: no count needed
    # the next insert timed out at the client but the server applied it; the retry meets duplicates
    await store.save_scores(_scores(work[1]))
    assert await handlers.on_sample_scores(_scores(work[1])) == []  # re-counted, not "0 added"
    [completed] = await handlers.on_sample_scores(_scores(work[2]))
    assert completed.topic == topics.BENCHMARKS_COMPLETED and completed.event.status == "completed"

    # and when no message is left to trigger it, the reconciler completes it
    other = _request("bm_quiet")
    plan, work = _plan(other)
    await store.create_benchmark(other)
    await store.mark_queued(other.benchmark_id)
    await store.save_plan(plan)
    for item in work:
        await store.save_scores(_scores(item))
    clock, sent = Clock(), []
    report = await _reconciler(store, settings, clock, sent).run_round()
    assert report.completed == ["bm_quiet"] and sent[0].event.status == "completed"
    assert (await store.get_benchmark("bm_quiet")).status == "completed"
    assert await store.unfinished(limit=10) == []  # finished benchmarks leave the reconciler's list


class CountingStore(MongoStore):
    """The real store, counting the benchmark reads the aggregator makes, and the times it reads
    a benchmark's scores back."""

    reads = 0
    score_reads = 0

    def for_tenant(self, tenant: str) -> CountingStore:
        assert tenant == self.tenant
        return self

    async def get_benchmark(self, benchmark_id: str) -> BenchmarkRecord | None:
        self.reads += 1
        return await super().get_benchmark(benchmark_id)

    def iter_scores(self, benchmark_id: str, *, batch: int = 1000):  # type: ignore[override]
        self.score_reads += 1
        return super().iter_scores(benchmark_id, batch=batch)


async def test_the_aggregator_reads_a_planned_benchmark_only_when_its_tally_reaches_the_plan(
    store: MongoStore, settings: Settings
) -> None:
    request = _request(samples=12)
    plan, work = _plan(request, shard_size=4)
    await store.create_benchmark(request)
    counting = CountingStore(store._client, settings.mongo_database, tenant=store.tenant)
    handlers = AggregatorHandlers(settings, counting)
    await handlers.on_benchmark_planned(plan)
    assert await handlers.on_sample_scores(_scores(work[0])) == []  # first sight: counts, learns the plan
    reads = counting.reads
    assert await handlers.on_sample_scores(_scores(work[1])) == []
    assert counting.reads == reads  # 8 of 12: nothing to read
    [completed] = await handlers.on_sample_scores(_scores(work[2]))
    assert completed.event.status == "completed" and completed.event.results


def _varied_scores(item: WorkItem) -> SampleScores:
    """Scores that differ by sample, so that a report built from other values would differ."""
    return SampleScores(
        benchmark_id=item.benchmark_id,
        model=item.model.name,
        task=item.task.name,
        shard=item.shard,
        scores=[
            SampleScore(
                sample_id=s.id,
                scores={"exact-match": 100.0 * (int(s.id[1:]) % 3 == 0), "f1-score": 100.0 / (1 + int(s.id[1:]) % 7)},
                prediction="a",
                latency_ms=1.0 + int(s.id[1:]) / 3,
            )
            for s in item.samples
        ],
    )


async def test_the_aggregator_reports_from_the_scores_it_folded_in_as_it_stored_them_with_the_same_numbers(
    store: MongoStore, settings: Settings
) -> None:
    request = _request(samples=30)
    plan, work = _plan(request, shard_size=4)
    await store.create_benchmark(request)
    reading = CountingStore(store._client, settings.mongo_database, tenant=store.tenant)
    handlers = AggregatorHandlers(settings, reading)
    await handlers.on_benchmark_planned(plan)
    announced = [outgoing for item in work for outgoing in await handlers.on_sample_scores(_varied_scores(item))]
    assert [outgoing.event.status for outgoing in announced] == ["completed"]
    assert reading.score_reads == 0  # folded in as stored: not read back

    record = await store.get_benchmark(request.benchmark_id)
    assert record is not None and record.report is not None
    samples = PlanSamples(plan)
    async for batch in store.iter_scores(request.benchmark_id):
        samples.add(batch)
    read_back = report_from(
        samples, status="completed", bootstrap_seed=settings.bootstrap_seed, bootstrap_resamples=settings.bootstrap_resamples
    ).to_json()
    assert {k: v for k, v in record.report.items() if k != "drift"} == {k: v for k, v in read_back.items() if k != "drift"}


async def test_a_redelivered_shard_makes_the_report_read_the_scores_back(store: MongoStore, settings: Settings) -> None:
    request = _request(samples=8)
    plan, work = _plan(request, shard_size=4)
    await store.create_benchmark(request)
    reading = CountingStore(store._client, settings.mongo_database, tenant=store.tenant)
    handlers = AggregatorHandlers(settings, reading)
    await handlers.on_benchmark_planned(plan)
    assert await handlers.on_sample_scores(_varied_scores(work[0])) == []
    assert await handlers.on_sample_scores(_varied_scores(work[0])) == []  # again: nothing new stored
    [completed] = await handlers.on_sample_scores(_varied_scores(work[1]))
    assert completed.event.status == "completed"
    assert reading.score_reads == 1  # the fold could no longer be trusted: read back


async def test_scores_that_overtake_their_plan_complete_the_benchmark_when_it_arrives(
    store: MongoStore, settings: Settings
) -> None:
    request = _request(samples=8)
    plan, work = _plan(request, shard_size=4)
    await store.create_benchmark(request)
    handlers = AggregatorHandlers(settings, store)
    for item in work:
        assert await handlers.on_sample_scores(_scores(item)) == []  # no plan yet: cannot be complete
    [completed] = await handlers.on_benchmark_planned(plan)
    assert completed.event.status == "completed"
    assert await store.unfinished(limit=10) == []  # finished: no longer watched


async def test_a_stalled_benchmark_is_re_driven_for_its_missing_shards_then_failed_with_the_reason(
    store: MongoStore, settings: Settings
) -> None:
    request = _request(samples=10)
    plan, work = _plan(request, shard_size=4)  # shards of 4, 4, 2
    await store.create_benchmark(request)
    await store.mark_queued(request.benchmark_id)
    await store.save_plan(plan)
    await store.save_scores(_scores(work[0]))
    await store.save_scores(_scores(work[2]))
    clock, sent = Clock(), []
    reconciler = _reconciler(store, settings, clock, sent)

    await reconciler.run_round()  # first sight: progress noted
    clock.advance(59)
    assert (await reconciler.run_round()).redriven == []
    clock.advance(2)
    assert (await reconciler.run_round()).redriven == ["bm_rec"]
    [redrive] = sent
    assert redrive.topic == topics.BENCHMARKS_REQUESTED and redrive.event.redrive.attempt == 1
    assert [(s.model, s.task, s.shard) for s in redrive.event.redrive.shards] == [("lead", "qa", 1)]
    assert redrive.event.spec == request.spec  # inline records and all, as first sent

    clock.advance(61)
    assert (await reconciler.run_round()).redriven == ["bm_rec"]  # second and last re-drive
    clock.advance(61)
    report = await reconciler.run_round()
    assert report.failed == ["bm_rec"]
    failed = await store.get_benchmark("bm_rec")
    assert failed.status == "failed"
    assert failed.reason.startswith("stalled: no new score for 61s after 2 re-drives; 6 of 10 samples scored")
    assert sent[-1].topic == topics.BENCHMARKS_COMPLETED and sent[-1].event.status == "failed"


async def test_progress_resets_the_stall_clock(store: MongoStore, settings: Settings) -> None:
    request = _request(samples=10)
    plan, work = _plan(request, shard_size=4)
    await store.create_benchmark(request)
    await store.mark_queued(request.benchmark_id)
    await store.save_plan(plan)
    clock, sent = Clock(), []
    reconciler = _reconciler(store, settings, clock, sent)
    await reconciler.run_round()
    for item in work[:2]:
        clock.advance(50)
        await store.save_scores(_scores(item))
        await reconciler.run_round()
    assert sent == []  # slow, but moving: never re-driven


async def test_a_dead_lettered_event_fails_its_benchmark_with_the_reason(store: MongoStore, settings: Settings) -> None:
    request = _request()
    await store.create_benchmark(request)
    handlers = AggregatorHandlers(settings, store)
    letter = DeadLetter(
        topic="benchmarks.work",
        key="bm_rec:lead:qa:0",
        payload="x",
        error="invalid WorkItem: shard: missing",
        service="runner",
        benchmark_id="bm_rec",
    )
    [announced] = await handlers.on_dead_letter(letter)
    assert announced.event.status == "failed"
    record = await store.get_benchmark("bm_rec")
    assert record.status == "failed"
    assert record.reason == "dead-lettered by the runner from benchmarks.work: invalid WorkItem: shard: missing"
    assert await handlers.on_dead_letter(letter) == []  # a finished benchmark is not touched again
    assert await handlers.on_dead_letter(letter.model_copy(update={"benchmark_id": "bm_unknown"})) == []


async def test_one_replica_takes_each_reconciler_round(store: MongoStore, settings: Settings) -> None:
    other = await MongoStore.connect(settings)
    try:
        claims = [await store.claim_round("15s:1"), await other.claim_round("15s:1"), await other.claim_round("15s:2")]
    finally:
        await other.close()
    assert claims == [True, False, True]
