"""The runner service's scheduling guarantees over the real Kafka and FerretDB (issue 16):
a small benchmark is not held behind a big slow one, and a runner killed with many shards in
flight loses nothing, counts nothing twice, and on restart takes its partitions back at once.
Speed is measured by bench/fair_share.py, not here."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from pymongo import AsyncMongoClient

from shared import topics
from shared.events import BenchmarkRequested
from shared.results.mongo_store import MongoStore
from shared.settings import Settings
from shared.spec import parse_spec
from tests.fakes.model_server import FakeModelServer
from tests.integration.conftest import Kafka, RunningService, Services
from tests.waiting import wait_for_async

pytestmark = pytest.mark.integration


@pytest.fixture
def provider() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def _records(samples: int) -> list[dict[str, object]]:
    return [{"id": f"q{i}", "question": f"question {i}", "answers": [f"Question: question {i}"]} for i in range(samples)]


def _request(benchmark_id: str, tenant: str, models: list[dict[str, object]], samples: int) -> BenchmarkRequested:
    spec = parse_spec(
        {
            "name": benchmark_id,
            "models": models,
            "tasks": [
                {
                    "name": "qa",
                    "type": "qa",
                    "dataset": {"records": _records(samples)},
                    "prompt": {"template": "Question: {question}\nAnswer:"},
                }
            ],
        }
    )
    return BenchmarkRequested(tenant=tenant, benchmark_id=benchmark_id, spec=spec)


def _fake(provider: FakeModelServer, name: str, concurrency: int) -> dict[str, object]:
    return {"name": name, "provider": "openai", "baseUrl": f"{provider.url}/v1", "limits": {"concurrency": concurrency}}


async def _status(mongo: AsyncMongoClient, settings: Settings, benchmark_id: str) -> str | None:
    found = await mongo[settings.mongo_database].benchmarks.find_one({"benchmarkId": benchmark_id})
    return None if found is None else found["status"]


def _shards_running(runner: RunningService) -> int:
    text = httpx.get(f"{runner.url}/metrics", timeout=5).text
    return sum(int(float(value)) for value in re.findall(r"^benchmark_runner_shards_running\{[^}]*\} (\S+)$", text, re.M))


async def test_a_small_benchmark_completes_while_a_big_slow_one_still_runs(
    services: Services, kafka: Kafka, provider: FakeModelServer, settings: Settings, mongo: AsyncMongoClient
) -> None:
    # one partition: the small benchmark's shard is queued behind every shard of the big one,
    # which waits for a model serving 2 requests at a time, 200 ms each (>= 30 s for 300 samples)
    provider.configure(latency_ms=200)
    services.settings = settings.model_copy(update={"partitions": 1, "shard_size": 16})
    services.start("runner", BENCH_SHUTDOWN_TIMEOUT_S="2")  # the big one's shards in flight are not waited for
    services.start("scorer")
    services.start("aggregator")
    big = _request("bm_big", "team-a", [_fake(provider, "slow", concurrency=2)], 300)
    await kafka.send(topics.BENCHMARKS_REQUESTED, big, key="bm_big")
    await wait_for_async("the big benchmark to be under way", lambda: provider.stats().requests >= 4, timeout=60, interval=0.1)

    small = _request("bm_small", "team-b", [{"name": "lead", "provider": "builtin"}], 20)
    await kafka.send(topics.BENCHMARKS_REQUESTED, small, key="bm_small")
    await wait_for_async(
        "the small benchmark to complete",
        lambda: _is(_status(mongo, settings, "bm_small"), "completed"),
        timeout=60,
        interval=0.2,
    )
    assert await _status(mongo, settings, "bm_big") == "running"  # the big one is still going
    assert provider.stats().requests < 300


async def test_a_runner_killed_with_many_shards_in_flight_loses_nothing_counts_nothing_twice_and_comes_back_at_once(
    services: Services, kafka: Kafka, provider: FakeModelServer, settings: Settings, mongo: AsyncMongoClient
) -> None:
    provider.configure(latency_ms=200)
    services.settings = settings.model_copy(update={"shard_size": 4})
    # static membership, and a session far longer than the test waits: the restarted runner must
    # get its partitions back because it is the same member, not because the old session expired
    static = {"BENCH_INSTANCE_ID": "runner-under-test", "BENCH_KAFKA_SESSION_TIMEOUT_S": "90"}
    doomed = services.start("runner", **static)
    services.start("scorer", BENCH_INSTANCE_ID="scorer-0")
    services.start("aggregator", BENCH_INSTANCE_ID="aggregator-0")  # three consumers in one group, a name each
    models = [_fake(provider, "one", concurrency=8), _fake(provider, "two", concurrency=8)]
    await kafka.send(topics.BENCHMARKS_REQUESTED, _request("bm_kill", "default", models, 60), key="bm_kill")

    await wait_for_async(
        "the runner to hold 6 shards in flight (3 per model: ceil(8 / 4) + 1)",
        lambda: _shards_running(doomed) >= 6,
        timeout=60,
        interval=0.1,
        detail=lambda: f"{_shards_running(doomed)} running; the runner's log ends:\n{doomed.log()[-3000:]}",
    )
    doomed.process.kill()  # no goodbye: nothing in flight is finished or committed
    await asyncio.to_thread(doomed.process.wait, 30)
    assert provider.stats().requests < 120

    restarted = services.start("runner", replica=1, **static)
    await wait_for_async(
        "the restarted runner to be assigned its partitions (long before the 90 s session ends)",
        lambda: "assigned benchmarks.work partitions" in restarted.log(),
        timeout=45,
        interval=0.2,
        detail=lambda: restarted.log()[-2000:],
    )
    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1, timeout=90)
    assert completed["status"] == "completed"
    assert completed["results"][0]["qa"]["exact-match"] == 100.0
    store = await MongoStore.connect(settings)
    try:
        assert await store.count_scores("bm_kill") == 120  # none lost, none stored twice
    finally:
        await store.close()
    stored = await mongo[settings.mongo_database].benchmarks.find_one({"benchmarkId": "bm_kill"})
    assert [detail["samples"] for detail in stored["report"]["details"]] == [60, 60]  # none counted twice


async def _is(status: object, expected: str) -> bool:
    return await status == expected  # type: ignore[misc]
