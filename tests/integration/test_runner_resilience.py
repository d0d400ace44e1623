"""Runner replicas against one fake model provider: one shared budget, and no loss on a crash."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from pymongo import AsyncMongoClient

from services.runner.pacing import window_plan
from shared import topics
from shared.events import BenchmarkRequested
from shared.results.mongo_store import scores_collection
from shared.settings import Settings
from shared.spec import parse_spec
from tests.fakes.model_server import FakeModelServer
from tests.integration.conftest import Kafka, Services
from tests.integration.test_end_to_end import _wait_for_members
from tests.waiting import wait_for_async

pytestmark = pytest.mark.integration


@pytest.fixture
def provider() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def _request(benchmark_id: str, provider: FakeModelServer, samples: int, **limits: object) -> BenchmarkRequested:
    records = [{"id": f"q{i}", "question": f"question {i}", "answers": [f"Question: question {i}"]} for i in range(samples)]
    spec = parse_spec(
        {
            "name": "paced",
            "models": [{"name": "fake", "provider": "openai", "baseUrl": f"{provider.url}/v1", "limits": limits}],
            "tasks": [
                {
                    "name": "qa",
                    "type": "qa",
                    "dataset": {"records": records},
                    "prompt": {"template": "Question: {question}\nAnswer:"},
                }
            ],
        }
    )
    return BenchmarkRequested(benchmark_id=benchmark_id, spec=spec)


async def test_two_runners_stay_inside_one_shared_requests_per_minute_budget(
    services: Services, kafka: Kafka, provider: FakeModelServer, settings: Settings
) -> None:
    services.settings = settings.model_copy(update={"shard_size": 4})
    runners = [services.start("runner", replica=i) for i in range(2)]
    services.start("scorer")
    services.start("aggregator")
    await _wait_for_members(services.settings, "benchmarks-runner", 2)  # fewer rebalances mid-run
    rpm = 60
    await kafka.send(topics.BENCHMARKS_REQUESTED, _request("bm_budget", provider, 20, requestsPerMinute=rpm), key="bm_budget")

    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1, timeout=90)
    assert completed["status"] == "completed"
    assert completed["results"][0]["qa"]["exact-match"] == 100.0  # the fake echoes the question back

    arrivals = provider.stats().arrivals
    assert len(arrivals) >= 20  # more when a rebalance re-ran a shard (at least once): still inside the budget
    plan = window_plan(rpm)
    per_window = Counter(int(t // plan.window_s) for t in arrivals)
    assert max(per_window.values()) <= plan.per_window, per_window  # the server counts: one budget, not two
    assert all(sum(1 for t in arrivals if start <= t < start + 60) <= rpm for start in arrivals)
    assert all(runner.log().count("ran shard ") > 0 for runner in runners)  # both replicas did work


async def test_killing_a_runner_mid_run_loses_nothing_and_counts_nothing_twice(
    services: Services, kafka: Kafka, provider: FakeModelServer, settings: Settings, mongo: AsyncMongoClient
) -> None:
    provider.configure(latency_ms=250)
    services.settings = settings.model_copy(update={"shard_size": 4})
    doomed = services.start("runner", replica=0)
    services.start("scorer")
    services.start("aggregator")
    await kafka.send(topics.BENCHMARKS_REQUESTED, _request("bm_crash", provider, 32, concurrency=2), key="bm_crash")

    await kafka.read(topics.BENCHMARKS_OUTPUTS, count=1, timeout=30)  # it is mid-run now
    doomed.process.kill()  # no goodbye: in-flight shards are neither finished nor committed
    doomed.process.wait()
    requests_before_restart = provider.stats().requests
    assert requests_before_restart < 32
    services.start("runner", replica=1)

    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1, timeout=90)
    assert completed["status"] == "completed"
    database = mongo[settings.mongo_database]
    assert await database[scores_collection(settings.tenant, "bm_crash")].count_documents({}) == 32
    stored = await database.benchmarks.find_one({"benchmarkId": "bm_crash"})
    assert stored["report"]["details"][0]["samples"] == 32
    await asyncio.sleep(0)


async def test_a_runner_stopped_mid_shard_finishes_it_before_exiting(
    services: Services, kafka: Kafka, provider: FakeModelServer, settings: Settings
) -> None:
    provider.configure(latency_ms=1500)  # a shard of 4 at concurrency 1 takes 6 s: SIGTERM lands inside it
    services.settings = settings.model_copy(update={"shard_size": 4})
    stopped = services.start("runner", replica=0)
    services.start("scorer")
    services.start("aggregator")
    await kafka.send(topics.BENCHMARKS_REQUESTED, _request("bm_stop", provider, 8, concurrency=1), key="bm_stop")

    await wait_for_async(
        "the runner to send its first model request (a shard in flight)",
        lambda: provider.stats().requests >= 1,
        timeout=60,
        interval=0.1,
        detail=lambda: stopped.log()[-3000:],
    )
    stopped.process.terminate()
    await asyncio.to_thread(stopped.process.wait, 30)  # uvicorn re-raises SIGTERM once it has shut down
    log = stopped.log()
    assert "ran shard bm_stop:" in log and "Application shutdown complete" in log, log[-3000:]  # the shard in flight was finished
    services.start("runner", replica=1)

    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1, timeout=90)
    assert completed["status"] == "completed" and completed["results"][0]["qa"]["exact-match"] == 100.0
    assert await kafka.read(topics.BENCHMARKS_DLQ, count=1, timeout=2, allow_fewer=True) == []


async def test_a_spec_cannot_make_the_runner_send_its_environment_to_a_server_of_its_choosing(
    services: Services, kafka: Kafka, provider: FakeModelServer, settings: Settings, mongo: AsyncMongoClient
) -> None:
    # the exfiltration the issue found: apiKeyEnv naming the runner's database URL, baseUrl the taker's;
    # sent straight to Kafka, past the gateway's own check: the runner enforces the policy itself
    services.start("runner", BENCH_MODEL_KEYS='{"FAKE_API_KEY": ["https://api.example.org/v1"]}', FAKE_API_KEY="sk-bound")
    services.start("scorer")
    services.start("aggregator")
    request = _request("bm_exfil", provider, 4)
    stolen = request.spec.models[0].model_copy(update={"api_key_env": "BENCH_MONGO_URL"})
    bound_elsewhere = stolen.model_copy(update={"name": "bound", "api_key_env": "FAKE_API_KEY"})
    spec = request.spec.model_copy(update={"models": [stolen, bound_elsewhere]})
    await kafka.send(topics.BENCHMARKS_REQUESTED, request.model_copy(update={"spec": spec}), key="bm_exfil")

    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1, timeout=60)
    assert completed["status"] == "completed"
    assert provider.stats().requests == 0  # not one request left the runner, with or without a key
    stored = await mongo[settings.mongo_database].benchmarks.find_one({"benchmarkId": "bm_exfil"})
    assert [d["errors"] for d in stored["report"]["details"]] == [4, 4]
    errors = [
        doc["score"]["error"]
        async for doc in mongo[settings.mongo_database][scores_collection(settings.tenant, "bm_exfil")].find()
    ]
    assert any("apiKeyEnv BENCH_MONGO_URL is not a key this server may use" in e for e in errors)
    assert any("may only be sent to https://api.example.org/v1" in e for e in errors)
    everything = (
        json.dumps(completed) + json.dumps(stored, default=str) + json.dumps(errors) + "".join(s.log() for s in services.started)
    )
    assert settings.mongo_url not in everything and "sk-bound" not in everything
