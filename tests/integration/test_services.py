"""Each service's subscribers on real topics, the DLQ, and redelivery."""

from __future__ import annotations

import json

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.runner.planner import plan_benchmark
from shared import topics
from shared.datasets import load_task_dataset
from shared.events import BenchmarkRequested, ModelOutputs, SampleOutput, SampleScore, SampleScores
from shared.results.mongo_store import scores_collection
from shared.settings import Settings
from shared.spec import load_spec
from tests.conftest import EXAMPLES
from tests.integration.conftest import Kafka, Services

pytestmark = pytest.mark.integration


def _inline_spec(limit: int = 20):
    """The quickstart with its datasets inlined (as `benchmarks submit` sends it) and trimmed."""
    from shared.datasets import inline_records

    spec = load_spec(EXAMPLES / "quickstart.yaml")
    tasks = [t.model_copy(update={"dataset": inline_records(t.dataset, base_dir=EXAMPLES), "limit": limit}) for t in spec.tasks]
    return spec.model_copy(update={"tasks": tasks})


async def test_runner_plans_a_request_and_runs_its_shards(services: Services, kafka: Kafka) -> None:
    runner = services.start("runner")
    request = BenchmarkRequested(benchmark_id="bm_runner", spec=_inline_spec(limit=20))
    await kafka.send(topics.BENCHMARKS_REQUESTED, request, key=request.benchmark_id)

    [planned] = await kafka.read(topics.BENCHMARKS_PLANNED, count=1)
    assert (
        planned["benchmarkId"] == "bm_runner" and planned["shards"] == 8
    )  # 2 models x 2 tasks x (20 samples / 16 a shard -> 2 shards)
    assert [t["samples"] for t in planned["tasks"]] == [20, 20]
    work = await kafka.read(topics.BENCHMARKS_WORK, count=8)
    assert len(work) == 8 and {w["_key"] for w in work} >= {"default/bm_runner:lead:text-summarization:0"}  # keys name the tenant
    outputs = await kafka.read(topics.BENCHMARKS_OUTPUTS, count=8)
    assert sum(len(o["outputs"]) for o in outputs) == 2 * 2 * 20
    assert all(o["_key"] == f"default/{o['benchmarkId']}:{o['model']}:{o['task']}:{o['shard']}" for o in outputs)
    metrics = httpx.get(f"{runner.url}/metrics").text
    assert 'benchmark_model_requests_total{model="lead",outcome="ok",tenant="default"} 40.0' in metrics
    assert 'benchmark_model_request_latency_seconds_count{model="extractive",tenant="default"} 40.0' in metrics


def _outputs(benchmark_id: str = "bm_scorer", schema_version: int = 1) -> bytes:
    outputs = ModelOutputs(
        benchmark_id=benchmark_id,
        model="m",
        task="qa",
        task_type="qa",
        metrics=["exact-match", "f1-score"],
        shard=0,
        outputs=[
            SampleOutput(sample_id="1", prediction="The Palm Dome", references=["Palm Dome"], latency_ms=3.0),
            SampleOutput(sample_id="2", prediction="", references=["x"], latency_ms=1.0, error="ModelUnavailable: 503"),
        ],
    )
    wire = json.loads(outputs.to_wire())
    wire["schemaVersion"] = schema_version
    return json.dumps(wire).encode()


async def test_scorer_scores_outputs(services: Services, kafka: Kafka) -> None:
    services.start("scorer")
    await kafka.send(topics.BENCHMARKS_OUTPUTS, _outputs())
    [scores] = await kafka.read(topics.BENCHMARKS_SCORES, count=1)
    assert scores["_key"] == "default/bm_scorer"
    by_id = {s["sampleId"]: s for s in scores["scores"]}
    assert by_id["1"]["scores"] == {"exact-match": 100.0, "f1-score": 100.0}
    assert by_id["2"]["scores"] == {"exact-match": 0.0, "f1-score": 0.0} and by_id["2"]["error"]


async def test_malformed_and_unknown_version_events_go_to_the_dlq_and_the_consumer_keeps_going(
    services: Services, kafka: Kafka
) -> None:
    services.start("scorer")
    await kafka.send(topics.BENCHMARKS_OUTPUTS, b"{not json", key="broken")
    await kafka.send(topics.BENCHMARKS_OUTPUTS, _outputs("bm_v2", schema_version=2), key="future")
    await kafka.send(topics.BENCHMARKS_OUTPUTS, b'{"schemaVersion": 1, "benchmarkId": "bm_x"}', key="partial")
    await kafka.send(topics.BENCHMARKS_OUTPUTS, _outputs("bm_after"), key="good")

    letters = await kafka.read(topics.BENCHMARKS_DLQ, count=3)
    by_key = {letter["_key"].removeprefix("default/"): letter for letter in letters}  # a letter's key names its tenant
    assert set(by_key) == {"broken", "future", "partial"}
    assert by_key["broken"]["payload"] == "{not json" and by_key["broken"]["topic"] == "benchmarks.outputs"
    assert "invalid ModelOutputs" in by_key["broken"]["error"] and by_key["broken"]["service"] == "scorer"
    assert "schemaVersion" in by_key["future"]["error"]
    assert "model" in by_key["partial"]["error"]  # names a missing field
    [scores] = await kafka.read(topics.BENCHMARKS_SCORES, count=1)
    assert scores["benchmarkId"] == "bm_after"


async def test_aggregator_completes_once_every_sample_is_scored_and_ignores_redelivery(
    services: Services, kafka: Kafka, mongo: AsyncMongoClient, settings: Settings
) -> None:
    services.start("aggregator")
    spec = _inline_spec(limit=3)
    request = BenchmarkRequested(benchmark_id="bm_agg", spec=spec)
    datasets = {t.name: load_task_dataset(t, base_dir=EXAMPLES) for t in spec.tasks}
    plan, work = plan_benchmark(request, datasets, shard_size=16, max_message_bytes=settings.max_message_bytes)
    shard_scores = [
        SampleScores(
            benchmark_id="bm_agg",
            model=item.model.name,
            task=item.task.name,
            shard=item.shard,
            scores=[
                SampleScore(sample_id=s.id, scores=dict.fromkeys(item.task.metrics, 0.5), prediction="p", latency_ms=1.0)
                for s in item.samples
            ],
        )
        for item in work
    ]
    # scores may overtake their plan: send the first shard before the plan, and twice
    await kafka.send(topics.BENCHMARKS_SCORES, shard_scores[0], key="bm_agg")
    await kafka.send(topics.BENCHMARKS_SCORES, shard_scores[0], key="bm_agg")
    await kafka.send(topics.BENCHMARKS_PLANNED, plan, key="bm_agg")
    for scores in shard_scores[1:]:
        await kafka.send(topics.BENCHMARKS_SCORES, scores, key="bm_agg")

    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1)
    assert completed["status"] == "completed" and completed["benchmarkId"] == "bm_agg"
    assert completed["results"][0]["question-answering"] == {"exact-match": 0.5, "f1-score": 0.5}

    database = mongo[settings.mongo_database]
    scores = database[scores_collection("default", "bm_agg")]
    assert await scores.count_documents({}) == plan.expected_samples == 12
    stored = await database.benchmarks.find_one({"benchmarkId": "bm_agg"})
    assert stored["status"] == "completed" and stored["report"]["results"] == completed["results"]

    # the same scores event delivered again changes nothing (and announces the result again)
    await kafka.send(topics.BENCHMARKS_SCORES, shard_scores[-1], key="bm_agg")
    announcements = await kafka.read(topics.BENCHMARKS_COMPLETED, count=2)
    assert announcements[1]["results"] == completed["results"]
    assert await scores.count_documents({}) == 12  # the redelivered shard stored nothing twice


async def test_a_benchmark_that_cannot_be_planned_is_marked_failed_with_the_reason(
    services: Services, kafka: Kafka, mongo: AsyncMongoClient, settings: Settings
) -> None:
    services.start("runner")
    services.start("aggregator")
    spec = load_spec(EXAMPLES / "quickstart.yaml")
    gone = spec.model_copy(
        update={
            "tasks": [
                spec.tasks[0].model_copy(
                    update={"dataset": spec.tasks[0].dataset.model_copy(update={"path": "/nonexistent/data.jsonl"})}
                )
            ]
        }
    )
    await kafka.send(topics.BENCHMARKS_REQUESTED, BenchmarkRequested(benchmark_id="bm_gone", spec=gone), key="bm_gone")

    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1)
    assert completed["status"] == "failed" and completed["results"] == []
    assert (
        completed["reason"] == "planning failed: this server reads no dataset files; give a 'url' or inline 'records'"
        " (`benchmarks submit` inlines local files)"
    )
    stored = await mongo[settings.mongo_database].benchmarks.find_one({"benchmarkId": "bm_gone"})
    assert stored["status"] == "failed" and stored["reason"] == completed["reason"]
