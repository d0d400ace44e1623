"""The store contract (shared/results/store.py), case by case, against both stores: the embedded
SQLite file and the real FerretDB. Every test before the "FerretDB only" line runs twice, once per
store, and must pass on both unchanged: that is what makes the two stores interchangeable.

The tests after that line cover what only the distributed store does (the outbox and progress of
`TrackedStore`, the quota counts and the reconciler's rounds of `MongoStore`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from shared.events import (
    BenchmarkPlanned,
    BenchmarkRequested,
    DeploymentRef,
    SampleScore,
    SampleScores,
    TaskPlan,
    utc_now,
)
from shared.results.mongo_store import MongoStore
from shared.results.sqlite_store import SqliteStore
from shared.results.store import REASON_CHARS, BenchmarkFilter, BenchmarkStore, cause_of, stored_time
from shared.settings import Settings
from shared.spec import parse_spec

pytestmark = pytest.mark.integration

Opener = Callable[[str], Awaitable[BenchmarkStore]]
"""Opens one more store on the same database (or file), bound to the tenant named."""

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "ferretdb"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings) -> AsyncIterator[Opener]:
    """Every store opened is closed afterwards; FerretDB's database (one per test) is dropped."""
    opened: list[BenchmarkStore] = []

    async def open_sqlite(tenant: str) -> BenchmarkStore:
        opened.append(SqliteStore(tmp_path / "store.sqlite3", tenant=tenant))
        return opened[-1]

    async def open_mongo(tenant: str) -> BenchmarkStore:
        opened.append(await MongoStore.connect(settings.model_copy(update={"tenant": tenant})))
        return opened[-1]

    yield open_sqlite if request.param == "sqlite" else open_mongo
    for store in opened:
        await store.close()
    if request.param == "ferretdb":
        client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url)
        await client.drop_database(settings.mongo_database)
        await client.close()


@pytest.fixture
async def store(open_store: Opener) -> BenchmarkStore:
    return await open_store("default")


def _request(
    benchmark_id: str = "bm_1",
    *,
    name: str = "contract",
    suite: str | None = None,
    models: tuple[str, ...] = ("lead",),
    at: datetime = T0,
    **fields: object,
) -> BenchmarkRequested:
    spec = parse_spec(
        {
            "name": name,
            **({"suite": suite} if suite else {}),
            "models": [{"name": model, "provider": "builtin", "model": "lead"} for model in models],
            "tasks": [{"name": "qa", "type": "qa", "dataset": {"records": [{"id": "q0", "question": "q", "answers": ["a"]}]}}],
        }
    )
    return BenchmarkRequested(benchmark_id=benchmark_id, spec=spec, requested_at=at, **fields)  # type: ignore[arg-type]


def _plan(request: BenchmarkRequested, *, samples: int = 3, at: datetime = T0) -> BenchmarkPlanned:
    return BenchmarkPlanned(
        benchmark_id=request.benchmark_id,
        name=request.spec.name,
        suite=request.spec.suite_name,
        models=[model.name for model in request.spec.models],
        tasks=[
            TaskPlan(
                name="qa",
                type="qa",
                dataset="inline",
                dataset_digest="0" * 64,
                samples=samples,
                metrics=["exact-match"],
                shard_sizes=[2, samples - 2],
            )
        ],
        shards=2,
        planned_at=at,
    )


def _scores(
    benchmark_id: str = "bm_1",
    ids: tuple[str, ...] = ("s0", "s1"),
    *,
    model: str = "lead",
    task: str = "qa",
    shard: int = 0,
    value: float = 100.0,
) -> SampleScores:
    return SampleScores(
        benchmark_id=benchmark_id,
        model=model,
        task=task,
        shard=shard,
        scores=[SampleScore(sample_id=i, scores={"exact-match": value}, prediction="a", latency_ms=1.5) for i in ids],
    )


def _ids(records: list) -> list[str]:
    return [record.benchmark_id for record in records]


# --- create_benchmark and get_benchmark ----------------------------------------------------------


async def test_a_requested_benchmark_is_recorded_pending_with_everything_it_was_asked_with(store: BenchmarkStore) -> None:
    request = _request(
        suite="nightly",
        trigger="ci",
        requested_by="ada",
        trigger_detail="job 7",
        deployment=DeploymentRef(model="lead", version="v2"),
    )
    assert await store.create_benchmark(request, digest="sha256:abc", evaluations=1) is True

    record = await store.get_benchmark("bm_1")
    assert record is not None
    assert (record.benchmark_id, record.tenant, record.name, record.suite) == ("bm_1", "default", "contract", "nightly")
    assert (record.status, record.trigger, record.plan, record.report, record.reason) == ("pending", "ci", None, None, None)
    assert record.spec == request.spec.to_document()
    assert record.models == ["lead"]
    assert (
        record.cause
        == cause_of(request)
        == {"requestedBy": "ada", "triggerDetail": "job 7", "deployment": {"model": "lead", "version": "v2"}}
    )
    assert record.requested_by == "ada" and record.deployment == DeploymentRef(model="lead", version="v2")
    assert record.request_digest == "sha256:abc"
    assert record.created_at == record.updated_at == stored_time(T0)


async def test_creating_a_benchmark_again_changes_nothing_and_says_so(store: BenchmarkStore) -> None:
    assert await store.create_benchmark(_request()) is True
    first = await store.get_benchmark("bm_1")
    replay = _request(name="other", trigger="ci", requested_by="bob", at=T0 + timedelta(hours=1))
    assert await store.create_benchmark(replay, digest="sha256:other") is False
    assert await store.get_benchmark("bm_1") == first
    assert first is not None and first.request_digest is None  # no digest given: none kept


async def test_times_are_kept_in_utc_to_the_millisecond(store: BenchmarkStore) -> None:
    east = T0.astimezone(timezone(timedelta(hours=2)))
    await store.create_benchmark(_request("bm_east", at=east))
    await store.create_benchmark(_request("bm_naive", at=T0.replace(tzinfo=None)))  # a naive time is UTC already
    for benchmark_id in ("bm_east", "bm_naive"):
        record = await store.get_benchmark(benchmark_id)
        assert record is not None
        assert record.created_at == datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
        assert record.created_at.utcoffset() == timedelta(0) and record.updated_at.utcoffset() == timedelta(0)
        assert record.summary()["createdAt"] == "2026-03-01T12:00:00.123000+00:00"


async def test_an_unknown_benchmark_is_none(store: BenchmarkStore) -> None:
    assert await store.get_benchmark("bm_nope") is None


# --- save_plan --------------------------------------------------------------------------------------


async def test_a_plan_moves_a_pending_benchmark_to_running(store: BenchmarkStore) -> None:
    request = _request()
    await store.create_benchmark(request)
    before = utc_now() - timedelta(seconds=1)
    await store.save_plan(_plan(request))
    record = await store.get_benchmark("bm_1")
    assert record is not None
    assert record.status == "running" and record.plan == _plan(request)
    assert record.created_at == stored_time(T0) and record.updated_at >= before  # updated now
    assert record.trigger == "api" and record.cause == {} and record.spec == request.spec.to_document()

    await store.save_plan(_plan(request))  # a replayed plan: still running, nothing else changes
    again = await store.get_benchmark("bm_1")
    assert again is not None and (again.status, again.plan) == ("running", record.plan)


async def test_a_plan_of_a_benchmark_never_requested_here_records_it_running(store: BenchmarkStore) -> None:
    """Another producer published the request, so the plan is the first this store hears of it."""
    request = _request(suite="nightly", trigger="ci", requested_by="ada")
    plan = _plan(request, at=T0 + timedelta(seconds=5))
    await store.save_plan(plan)

    record = await store.get_benchmark("bm_1")
    assert record is not None
    assert (record.status, record.name, record.suite, record.trigger) == ("running", "contract", "nightly", "api")
    assert record.plan == plan and record.spec == {} and record.models == [] and record.cause == {}
    assert record.created_at == stored_time(plan.planned_at) and record.request_digest is None
    assert _ids(await store.list_benchmarks(where=BenchmarkFilter(status="running", trigger="api", suite="nightly"))) == ["bm_1"]

    assert await store.create_benchmark(request) is False  # the request coming later changes nothing
    assert await store.get_benchmark("bm_1") == record


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_a_plan_leaves_a_finished_benchmark_finished(store: BenchmarkStore, outcome: str) -> None:
    request = _request()
    await store.create_benchmark(request)
    await store.save_plan(_plan(request))
    if outcome == "completed":
        await store.complete("bm_1", {"results": []})
    else:
        await store.fail("bm_1", "broken")
    await store.save_plan(_plan(request))
    record = await store.get_benchmark("bm_1")
    assert record is not None and record.status == outcome and record.plan == _plan(request)


# --- save_scores, count_scores, load_scores ---------------------------------------------------------


async def test_each_sample_score_is_stored_once_and_the_first_stands(store: BenchmarkStore) -> None:
    assert await store.save_scores(_scores(ids=("s0", "s1"))) == 2
    assert await store.save_scores(_scores(ids=("s1", "s2"), value=0.0)) == 1  # s1 again: refused
    assert await store.save_scores(_scores(ids=("s3", "s3"), value=50.0)) == 1  # a duplicate within one call
    assert await store.save_scores(_scores(ids=())) == 0
    assert await store.save_scores(_scores(ids=("s0", "s1", "s2", "s3"))) == 0  # a replayed shard
    assert await store.count_scores("bm_1") == 4

    loaded = sorted(await store.load_scores("bm_1"), key=lambda scored: scored.score.sample_id)
    assert [(s.model, s.task, s.score.sample_id, s.score.scores["exact-match"]) for s in loaded] == [
        ("lead", "qa", "s0", 100.0),
        ("lead", "qa", "s1", 100.0),
        ("lead", "qa", "s2", 0.0),
        ("lead", "qa", "s3", 50.0),
    ]
    assert loaded[0].score == _scores(ids=("s0",)).scores[0]  # every field as sent


async def test_a_sample_is_one_per_model_and_task(store: BenchmarkStore) -> None:
    assert await store.save_scores(_scores(ids=("s0",))) == 1
    assert await store.save_scores(_scores(ids=("s0",), model="extractive")) == 1
    assert await store.save_scores(_scores(ids=("s0",), task="summary")) == 1
    assert await store.save_scores(_scores("bm_2", ids=("s0",))) == 1
    assert await store.count_scores("bm_1") == 3 and await store.count_scores("bm_2") == 1
    assert sorted((s.model, s.task) for s in await store.load_scores("bm_1")) == [
        ("extractive", "qa"),
        ("lead", "qa"),
        ("lead", "summary"),
    ]


async def test_scores_of_an_unknown_benchmark_are_none_and_may_come_before_its_record(store: BenchmarkStore) -> None:
    assert await store.count_scores("bm_1") == 0 and await store.load_scores("bm_1") == []
    await store.save_scores(_scores())  # overtook the plan and even the record
    assert await store.get_benchmark("bm_1") is None
    assert await store.count_scores("bm_1") == 2


async def test_scores_stream_back_in_batches_each_score_once(store: BenchmarkStore) -> None:
    await store.save_scores(_scores(ids=tuple(f"s{i}" for i in range(7))))
    await store.save_scores(_scores(ids=("s0", "s1", "s2"), model="extractive", value=0.0))
    await store.save_scores(_scores(ids=("s0", "s9"), task="summary", shard=1))
    await store.save_scores(_scores(ids=("s0", "s1"), value=0.0))  # a replay: the first scores stand
    await store.save_scores(_scores("bm_2", ids=("s0",)))

    batches = [batch async for batch in store.iter_scores("bm_1", batch=3)]
    assert [len(batch) for batch in batches] == [3, 3, 3, 3]
    streamed = sorted((row for batch in batches for row in batch), key=lambda s: (s.model, s.task, s.score.sample_id))
    loaded = sorted(await store.load_scores("bm_1"), key=lambda s: (s.model, s.task, s.score.sample_id))
    assert streamed == loaded and len({(s.model, s.task, s.score.sample_id) for s in streamed}) == 12
    assert [batch async for batch in store.iter_scores("bm_nothing")] == []


# --- complete and fail --------------------------------------------------------------------------------


async def test_completing_stores_the_report_and_clears_the_reason(store: BenchmarkStore) -> None:
    request = _request()
    await store.create_benchmark(request)
    await store.save_plan(_plan(request))
    report = {
        "benchmarkId": "bm_1",
        "status": "completed",
        "results": [{"model": "lead", "qa": {"exact-match": 85.5}}],
        "nested": {"list": [1, 2.5, None, "x"], "flag": True},
    }
    before = utc_now() - timedelta(seconds=1)
    await store.complete("bm_1", report)
    record = await store.get_benchmark("bm_1")
    assert record is not None
    assert (record.status, record.report, record.reason) == ("completed", report, None)
    assert record.updated_at >= before and record.created_at == stored_time(T0)


async def test_a_full_report_wins_over_a_failure(store: BenchmarkStore) -> None:
    """The caller decides a benchmark is complete (shared/results/completion.py); a failure
    recorded while its report was being built does not keep the report out."""
    await store.create_benchmark(_request())
    await store.fail("bm_1", "stalled")
    await store.complete("bm_1", {"results": []})
    record = await store.get_benchmark("bm_1")
    assert record is not None and (record.status, record.report, record.reason) == ("completed", {"results": []}, None)


@pytest.mark.parametrize("planned", [False, True], ids=["pending", "running"])
async def test_an_unfinished_benchmark_fails_with_the_reason(store: BenchmarkStore, planned: bool) -> None:
    request = _request()
    await store.create_benchmark(request)
    if planned:
        await store.save_plan(_plan(request))
    await store.fail("bm_1", "planning failed: dataset gone")
    record = await store.get_benchmark("bm_1")
    assert record is not None and (record.status, record.reason, record.report) == (
        "failed",
        "planning failed: dataset gone",
        None,
    )


async def test_a_failure_reason_is_kept_readable_and_bounded(store: BenchmarkStore) -> None:
    await store.create_benchmark(_request())
    await store.fail("bm_1", "a\x00b" + "x" * 5000)
    record = await store.get_benchmark("bm_1")
    assert record is not None and record.reason is not None
    assert record.reason.startswith("a\\0bxx") and len(record.reason) == REASON_CHARS


async def test_a_late_failure_never_overwrites_an_outcome(store: BenchmarkStore) -> None:
    await store.create_benchmark(_request("bm_done"))
    await store.complete("bm_done", {"results": []})
    await store.fail("bm_done", "a replayed plan with an error")
    done = await store.get_benchmark("bm_done")
    assert done is not None and (done.status, done.report, done.reason) == ("completed", {"results": []}, None)

    await store.create_benchmark(_request("bm_failed"))
    await store.fail("bm_failed", "first reason")
    await store.fail("bm_failed", "second reason")
    failed = await store.get_benchmark("bm_failed")
    assert failed is not None and (failed.status, failed.reason) == ("failed", "first reason")


async def test_finishing_an_unknown_benchmark_records_nothing(store: BenchmarkStore) -> None:
    await store.complete("bm_nope", {"results": []})
    await store.fail("bm_nope", "why")
    assert await store.get_benchmark("bm_nope") is None and await store.list_benchmarks() == []


# --- list_benchmarks ----------------------------------------------------------------------------------


async def test_benchmarks_are_listed_newest_first_with_ties_by_id(store: BenchmarkStore) -> None:
    # bm_a and bm_b share a millisecond (bm_b is 300 microseconds later): a tie, ordered by id
    for benchmark_id, at in (
        ("bm_old", T0 - timedelta(seconds=1)),
        ("bm_b", T0 + timedelta(microseconds=300)),
        ("bm_a", T0),
        ("bm_new", T0 + timedelta(seconds=1)),
    ):
        await store.create_benchmark(_request(benchmark_id, at=at))
    assert _ids(await store.list_benchmarks()) == ["bm_new", "bm_a", "bm_b", "bm_old"]
    assert _ids(await store.list_benchmarks(limit=2)) == ["bm_new", "bm_a"]
    assert _ids(await store.list_benchmarks(limit=2, offset=2)) == ["bm_b", "bm_old"]
    assert _ids(await store.list_benchmarks(offset=3)) == ["bm_old"]
    assert await store.list_benchmarks(offset=4) == []
    assert await store.list_benchmarks(limit=0) == []
    for page in ({"limit": -1}, {"offset": -1}):
        with pytest.raises(ValueError, match="must not be negative"):
            await store.list_benchmarks(**page)  # type: ignore[arg-type]


async def test_a_page_is_never_longer_than_its_limit(store: BenchmarkStore) -> None:
    for index in range(25):
        await store.create_benchmark(_request(f"bm_{index:02}", at=T0 + timedelta(seconds=index)))
    assert len(await store.list_benchmarks()) == 20  # the default limit
    assert _ids(await store.list_benchmarks(limit=100, offset=20)) == ["bm_04", "bm_03", "bm_02", "bm_01", "bm_00"]


async def test_every_filter_keeps_only_what_matches_and_they_combine(store: BenchmarkStore) -> None:
    clock = itertools.count()

    async def create(benchmark_id: str, **fields: object) -> BenchmarkRequested:
        request = _request(benchmark_id, at=T0 + timedelta(seconds=next(clock)), **fields)  # type: ignore[arg-type]
        await store.create_benchmark(request)
        return request

    await create("bm_api", suite="nightly", models=("lead", "extractive"))
    ci = await create("bm_ci", suite="nightly", trigger="ci", models=("extractive",))
    await create("bm_other", suite="weekly", trigger="schedule", models=("lead",))
    await store.save_plan(_plan(ci))
    await store.fail("bm_other", "broken")

    def where(**fields: str) -> Awaitable[list]:
        return store.list_benchmarks(where=BenchmarkFilter(**fields))

    assert _ids(await where()) == ["bm_other", "bm_ci", "bm_api"]
    assert _ids(await where(suite="nightly")) == ["bm_ci", "bm_api"]
    assert _ids(await where(model="lead")) == ["bm_other", "bm_api"]  # any model of the spec
    assert _ids(await where(model="extractive")) == ["bm_ci", "bm_api"]
    assert _ids(await where(trigger="ci")) == ["bm_ci"]
    assert _ids(await where(status="pending")) == ["bm_api"]
    assert _ids(await where(status="running")) == ["bm_ci"]
    assert _ids(await where(status="failed", trigger="schedule", suite="weekly", model="lead")) == ["bm_other"]
    assert _ids(await where(suite="nightly", model="lead", trigger="ci")) == []
    assert await where(model="nobody") == [] and await where(suite="nope") == [] and await where(status="completed") == []


# --- baselines ---------------------------------------------------------------------------------------


async def test_a_baseline_is_pinned_per_model_and_replaced_per_model(store: BenchmarkStore) -> None:
    assert await store.get_baseline("nightly") == {}
    await store.set_baseline("nightly", {"zeta": "bm_1", "alpha": "bm_1"})
    await store.set_baseline("weekly", {"alpha": "bm_w"})
    await store.set_baseline("nightly", {"alpha": "bm_2"})  # replaces alpha's pin, keeps zeta's
    await store.set_baseline("nightly", {})  # nothing to pin: nothing changes

    nightly = await store.get_baseline("nightly")
    assert nightly == {"alpha": "bm_2", "zeta": "bm_1"}
    assert list(nightly) == ["alpha", "zeta"]  # in model name order
    assert await store.get_baseline("weekly") == {"alpha": "bm_w"}
    assert await store.get_baseline("monthly") == {}


# --- tenants and the connection -------------------------------------------------------------------


async def test_tenants_sharing_a_database_see_nothing_of_each_other(open_store: Opener) -> None:
    ours, theirs = await open_store("ours"), await open_store("theirs")
    assert (ours.tenant, theirs.tenant) == ("ours", "theirs")
    request = _request(suite="nightly")
    assert await ours.create_benchmark(request) is True
    assert await theirs.get_benchmark("bm_1") is None and await theirs.list_benchmarks() == []
    assert await theirs.create_benchmark(request) is True  # the same id is another benchmark there

    await ours.save_plan(_plan(request))
    await ours.save_scores(_scores())
    await ours.set_baseline("nightly", {"lead": "bm_1"})
    await ours.complete("bm_1", {"results": []})
    await theirs.save_plan(_plan(_request("bm_plan_only")))
    await ours.fail("bm_plan_only", "not ours")  # nothing of that id here

    theirs_record = await theirs.get_benchmark("bm_1")
    assert theirs_record is not None and (theirs_record.tenant, theirs_record.status, theirs_record.plan) == (
        "theirs",
        "pending",
        None,
    )
    assert await theirs.count_scores("bm_1") == 0 and await theirs.load_scores("bm_1") == []
    assert await theirs.get_baseline("nightly") == {}
    assert await theirs.save_scores(_scores()) == 2  # not duplicates of ours
    assert await ours.count_scores("bm_1") == 2
    plan_only = await theirs.get_benchmark("bm_plan_only")
    assert plan_only is not None and plan_only.status == "running"
    assert await ours.get_benchmark("bm_plan_only") is None
    assert _ids(await ours.list_benchmarks(where=BenchmarkFilter(suite="nightly"))) == ["bm_1"]
    ours_record = await ours.get_benchmark("bm_1")
    assert ours_record is not None and (ours_record.tenant, ours_record.status) == ("ours", "completed")


async def test_for_tenant_is_the_same_store_bound_to_another_tenant(open_store: Opener) -> None:
    ours = await open_store("ours")
    theirs = ours.for_tenant("theirs")
    assert theirs.tenant == "theirs" and ours.tenant == "ours"
    await theirs.create_benchmark(_request())
    await theirs.set_baseline("contract", {"lead": "bm_1"})
    assert await ours.get_benchmark("bm_1") is None and await ours.get_baseline("contract") == {}
    opened = await open_store("theirs")  # what another process of that tenant sees
    assert _ids(await opened.list_benchmarks()) == ["bm_1"]
    assert await opened.get_baseline("contract") == {"lead": "bm_1"}
    assert ours.for_tenant("ours").tenant == "ours"


async def test_closing_twice_is_harmless(open_store: Opener) -> None:
    store = await open_store("default")
    await store.create_benchmark(_request())
    await store.close()
    await store.close()
    again = await open_store("default")  # what was written stays
    assert _ids(await again.list_benchmarks()) == ["bm_1"]


# === FerretDB only: what the distributed store keeps beside the contract =============================
# TrackedStore (the outbox and progress of unfinished benchmarks, for the aggregator and its
# reconciler) and MongoStore's own extras (quota counts, reconciler rounds, every tenant's list).


@pytest.fixture
async def tracked(settings: Settings, mongo: object) -> AsyncIterator[MongoStore]:
    opened = await MongoStore.connect(settings)
    yield opened
    await opened.close()


async def test_tracked_a_requested_benchmark_waits_in_the_outbox_until_queued(tracked: MongoStore) -> None:
    request = _request()
    await tracked.create_benchmark(request)
    [entry] = await tracked.unfinished(limit=10)
    assert (entry.benchmark_id, entry.tenant, entry.queued, entry.request) == (
        "bm_1",
        "default",
        False,
        request.to_wire().decode(),
    )
    assert (entry.scored, entry.progress_at, entry.redrives) == (None, None, 0)
    assert entry.created_at == stored_time(T0)
    assert BenchmarkRequested.model_validate_json(entry.request or "") == request  # what the reconciler re-sends

    await tracked.create_benchmark(request)  # a replay adds nothing
    await tracked.mark_queued("bm_1")
    await tracked.mark_queued("bm_nope")  # not watched: nothing happens
    [entry] = await tracked.unfinished(limit=10)
    assert entry.queued and entry.request == request.to_wire().decode()


async def test_tracked_progress_is_noted_and_re_drives_only_when_given(tracked: MongoStore) -> None:
    await tracked.create_benchmark(_request())
    await tracked.note_progress("bm_1", scored=4, at=T0, redrives=1)
    await tracked.note_progress("bm_1", scored=6, at=T0 + timedelta(seconds=5))
    [entry] = await tracked.unfinished(limit=10)
    assert (entry.scored, entry.progress_at, entry.redrives) == (6, stored_time(T0 + timedelta(seconds=5)), 1)
    await tracked.note_progress("bm_nope", scored=1, at=T0)  # not watched: nothing happens
    assert _ids(await tracked.unfinished(limit=10)) == ["bm_1"]


async def test_tracked_finishing_or_forgetting_ends_the_watch(tracked: MongoStore) -> None:
    for benchmark_id in ("bm_c", "bm_f", "bm_x", "bm_done"):
        await tracked.create_benchmark(_request(benchmark_id))
    await tracked.complete("bm_c", {"results": []})
    await tracked.fail("bm_f", "broken")
    await tracked.forget_in_flight("bm_x")
    await tracked.forget_in_flight("bm_nope")
    assert _ids(await tracked.unfinished(limit=10)) == ["bm_done"]
    assert await tracked.count_in_flight() == 1
    record = await tracked.get_benchmark("bm_x")
    assert record is not None and record.status == "pending"  # forgetting only ends the watch


async def test_tracked_a_plan_from_another_producer_is_watched_without_a_request(tracked: MongoStore) -> None:
    await tracked.save_plan(_plan(_request(), at=T0 + timedelta(seconds=3)))
    [entry] = await tracked.unfinished(limit=10)
    assert (entry.benchmark_id, entry.queued, entry.request, entry.created_at) == (
        "bm_1",
        True,
        None,
        stored_time(T0 + timedelta(seconds=3)),
    )


async def test_tracked_unfinished_lists_every_tenant_oldest_first(tracked: MongoStore) -> None:
    other = tracked.for_tenant("other")
    await tracked.create_benchmark(_request("bm_new", at=T0 + timedelta(seconds=2)))
    await other.create_benchmark(_request("bm_mid", at=T0 + timedelta(seconds=1)))
    await tracked.create_benchmark(_request("bm_old", at=T0))
    entries = await tracked.unfinished(limit=10)
    assert [(e.benchmark_id, e.tenant) for e in entries] == [("bm_old", "default"), ("bm_mid", "other"), ("bm_new", "default")]
    assert _ids(await other.unfinished(limit=2)) == ["bm_old", "bm_mid"]  # whichever tenant asks
    assert await tracked.count_in_flight() == 2 and await other.count_in_flight() == 1  # per tenant


async def test_tracked_shard_counts_count_scores_per_model_task_and_shard(tracked: MongoStore) -> None:
    await tracked.save_scores(_scores(ids=("s0", "s1"), shard=0))
    await tracked.save_scores(_scores(ids=("s2",), shard=1))
    await tracked.save_scores(_scores(ids=("s0",), shard=0, model="extractive"))
    await tracked.for_tenant("other").save_scores(_scores(ids=("s9",), shard=1))
    assert await tracked.shard_counts("bm_1") == {("lead", "qa", 0): 2, ("lead", "qa", 1): 1, ("extractive", "qa", 0): 1}
    assert await tracked.shard_counts("bm_nope") == {}


async def test_tracked_evaluations_count_from_the_request_then_from_the_plan(tracked: MongoStore) -> None:
    await tracked.create_benchmark(_request("bm_old", at=T0 - timedelta(days=2)), evaluations=9)
    await tracked.create_benchmark(_request("bm_known", at=T0), evaluations=5)
    unknown = _request("bm_unknown", at=T0 + timedelta(seconds=1))
    await tracked.create_benchmark(unknown)
    assert await tracked.evaluations_since(T0 - timedelta(days=1)) == [
        (stored_time(T0), 5),
        (stored_time(unknown.requested_at), 0),
    ]
    await tracked.save_plan(_plan(unknown, samples=4))  # 1 model x 4 samples, now known
    assert (await tracked.evaluations_since(T0))[-1] == (stored_time(unknown.requested_at), 4)
    assert await tracked.for_tenant("other").evaluations_since(T0 - timedelta(days=3)) == []


async def test_tracked_one_replica_takes_each_round(tracked: MongoStore, settings: Settings) -> None:
    replica = await MongoStore.connect(settings)
    try:
        assert [await tracked.claim_round("15s:1"), await replica.claim_round("15s:1"), await replica.claim_round("15s:2")] == [
            True,
            False,
            True,
        ]
    finally:
        await replica.close()


async def test_tracked_the_gauges_rebuild_reads_every_tenant(tracked: MongoStore) -> None:
    await tracked.create_benchmark(_request("bm_ours", at=T0))
    await tracked.for_tenant("other").create_benchmark(_request("bm_theirs", at=T0 + timedelta(seconds=1)))
    assert _ids(await tracked.list_benchmarks()) == ["bm_ours"]
    assert _ids(await tracked.list_benchmarks(every_tenant=True)) == ["bm_theirs", "bm_ours"]


async def test_tracked_a_benchmark_keeps_its_scores_in_a_collection_of_its_own(tracked: MongoStore) -> None:
    request = _request()
    await tracked.create_benchmark(request)
    await tracked.save_plan(_plan(request, samples=3))
    assert await tracked.save_scores(_scores(ids=("s0", "s1"))) == 2
    assert await tracked.save_scores(_scores(ids=("s1", "s2"), shard=1, value=0.0)) == 1
    await tracked.save_scores(_scores("bm_2", ids=("s0", "s5")))  # another benchmark's: never read with bm_1's
    own = [name for name in await tracked.database.list_collection_names() if name.startswith("scores_")]
    assert len(own) == 2  # one per benchmark

    def table(loaded: list) -> list[tuple[str, float]]:
        return sorted((s.score.sample_id, s.score.scores["exact-match"]) for s in loaded)

    running = table(await tracked.load_scores("bm_1"))
    assert running == [("s0", 100.0), ("s1", 100.0), ("s2", 0.0)]
    assert await tracked.count_scores("bm_1") == 3
    assert await tracked.shard_counts("bm_1") == {("lead", "qa", 0): 2, ("lead", "qa", 1): 1}
    await tracked.complete("bm_1", {"results": []})  # no longer watched: read the same way
    assert table(await tracked.load_scores("bm_1")) == running and await tracked.count_scores("bm_1") == 3


async def test_tracked_a_benchmark_stored_by_an_earlier_version_counts_its_older_scores_once(
    tracked: MongoStore,
) -> None:
    await tracked.create_benchmark(_request())
    for collection in ("in_flight", "benchmarks"):
        await tracked.database[collection].update_one({"benchmarkId": "bm_1"}, {"$unset": {"ownScores": ""}})
    score = _scores(ids=("s0",)).scores[0].model_dump(mode="json", by_alias=True)
    await tracked.database["sample_scores"].insert_one(
        {"tenant": "default", "benchmarkId": "bm_1", "model": "lead", "task": "qa", "sampleId": "s0", "shard": 0, "score": score}
    )  # as earlier versions stored it
    await tracked.save_scores(_scores(ids=("s0", "s1")))  # s0 redelivered after the upgrade
    assert await tracked.count_scores("bm_1") == 2
    assert sorted(s.score.sample_id for s in await tracked.load_scores("bm_1")) == ["s0", "s1"]
    assert await tracked.shard_counts("bm_1") == {("lead", "qa", 0): 2}


async def test_tracked_progress_reads_the_noted_tally_while_running_and_the_plan_once_completed(
    tracked: MongoStore,
) -> None:
    request = _request()
    await tracked.create_benchmark(request)
    await tracked.save_plan(_plan(request, samples=3))
    await tracked.save_scores(_scores(ids=("s0", "s1")))
    running = await tracked.get_benchmark("bm_1")
    assert running is not None and await tracked.scored_so_far(running) == 0  # nothing noted yet
    await tracked.note_progress("bm_1", scored=2, at=T0)
    assert await tracked.scored_so_far(running) == 2
    await tracked.fail("bm_1", "stalled")
    failed = await tracked.get_benchmark("bm_1")
    assert failed is not None and await tracked.scored_so_far(failed) == 2  # kept when it failed
    completed = dataclasses.replace(failed, status="completed")
    assert await tracked.scored_so_far(completed) == 3
