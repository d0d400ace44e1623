"""The pure stage functions: plan, run, score, aggregate."""

from __future__ import annotations

import pytest

from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.executor import run_work_item, split_outputs
from services.runner.planner import plan_benchmark
from services.scorer.scoring import score_outputs
from shared.datasets import Dataset, digest_samples
from shared.errors import DatasetError, ModelUnavailable
from shared.events import BenchmarkRequested, ModelOutputs, Redrive, Sample, SampleOutput, ShardRef, WorkItem
from shared.results.report import ScoredSample, build_report
from shared.spec import parse_spec
from shared.statistics import mean_with_ci


def _samples(n: int, prefix: str = "") -> tuple[Sample, ...]:
    return tuple(
        Sample(id=f"{prefix}{i}", inputs={"question": f"what is {i}?", "context": f"It is {i}."}, references=[str(i)])
        for i in range(n)
    )


def _request(**task_extra: object) -> BenchmarkRequested:
    spec = parse_spec(
        {
            "name": "demo",
            "models": ["builtin:lead", "builtin:extractive"],
            "tasks": [{"name": "qa", "type": "qa", "dataset": "qa.jsonl", **task_extra}],
        }
    )
    return BenchmarkRequested(benchmark_id="bm_test", spec=spec)


def _dataset(n: int) -> Dataset:
    samples = _samples(n)
    return Dataset(location="qa.jsonl", samples=samples, digest=digest_samples(samples))


def test_plan_shards_every_model_and_task() -> None:
    plan, work = plan_benchmark(_request(), {"qa": _dataset(70)}, shard_size=32, max_message_bytes=900_000)
    assert plan.expected_samples == 140 and plan.shards == 6 == len(work)
    assert [len(w.samples) for w in work if w.model.name == "lead"] == [32, 32, 6]
    assert {w.key for w in work} >= {"bm_test:lead:qa:0", "bm_test:extractive:qa:2"}
    assert plan.tasks[0].dataset_digest == _dataset(70).digest
    assert plan.tasks[0].metrics == ["exact-match", "f1-score"]


def test_plan_derives_classification_labels_from_the_data() -> None:
    spec = parse_spec(
        {"name": "c", "models": ["builtin:lead"], "tasks": [{"name": "topic", "type": "classification", "dataset": "c.jsonl"}]}
    )
    samples = tuple(Sample(id=str(i), inputs={"text": "t"}, references=[label]) for i, label in enumerate("bab"))
    _, work = plan_benchmark(
        BenchmarkRequested(benchmark_id="bm_c", spec=spec),
        {"topic": Dataset(location="c.jsonl", samples=samples, digest=digest_samples(samples))},
        shard_size=10,
        max_message_bytes=900_000,
    )
    assert work[0].task.labels == ["a", "b"]


class FlakyModel:
    """Answers with the question's number, but fails on every third sample."""

    async def generate(self, request: GenerationRequest) -> Completion:
        number = request.inputs["question"].split()[-1].rstrip("?")
        if int(number) % 3 == 0:
            raise ModelUnavailable("upstream returned 503")
        return Completion(text=number, prompt_tokens=5, completion_tokens=1)

    async def aclose(self) -> None:
        return None


async def test_model_errors_are_recorded_per_sample_and_scored_as_empty() -> None:
    _, work = plan_benchmark(_request(), {"qa": _dataset(6)}, shard_size=32, max_message_bytes=900_000)
    outputs = await run_work_item(work[0], FlakyModel())
    assert [o.sample_id for o in outputs.outputs] == [str(i) for i in range(6)]  # order kept
    failed = [o for o in outputs.outputs if o.error]
    assert [o.sample_id for o in failed] == ["0", "3"]
    assert failed[0].error == "ModelUnavailable: upstream returned 503" and failed[0].prediction == ""

    scores = score_outputs(outputs)
    by_id = {s.sample_id: s for s in scores.scores}
    assert by_id["1"].scores == {"exact-match": 100.0, "f1-score": 100.0}
    assert by_id["3"].scores == {"exact-match": 0.0, "f1-score": 0.0} and by_id["3"].error


async def test_report_has_the_fixed_shape_and_counts_errors() -> None:
    plan, work = plan_benchmark(_request(), {"qa": _dataset(6)}, shard_size=4, max_message_bytes=900_000)
    scored = []
    for item in work:
        scores = score_outputs(await run_work_item(item, FlakyModel()))
        scored += [ScoredSample(scores.model, scores.task, s) for s in scores.scores]
    report = build_report(plan, scored, status="completed").to_json()
    assert {"benchmarkId", "name", "status", "results"} <= set(report)
    assert report["results"][0] == {
        "model": "lead",
        "qa": {"exact-match": pytest.approx(200 / 3), "f1-score": pytest.approx(200 / 3)},
    }
    cell = report["details"][0]
    assert cell["errors"] == 2 and cell["errorRate"] == pytest.approx(1 / 3) and cell["samples"] == 6
    assert cell["tokens"] == {"prompt": 20, "completion": 4}
    stats = cell["metrics"]["exact-match"]
    assert stats["ciLow"] <= stats["value"] <= stats["ciHigh"]
    assert report["tasks"][0]["datasetDigest"] == plan.tasks[0].dataset_digest


def test_bootstrap_ci_is_reproducible_for_a_seed() -> None:
    values = [float(v % 7) for v in range(200)]
    assert mean_with_ci(values, seed=1) == mean_with_ci(values, seed=1)
    assert mean_with_ci(values, seed=1) != mean_with_ci(values, seed=2)
    ci = mean_with_ci(values, seed=1)
    assert ci.ci_low < ci.mean < ci.ci_high and ci.n == 200
    assert mean_with_ci([0.5], seed=0).ci_low == 0.5


def test_the_tasks_stemming_switch_reaches_the_scorer() -> None:
    from shared.events import ModelOutputs, SampleOutput

    def rouge1(stemming: bool) -> float:
        outputs = ModelOutputs(
            benchmark_id="b",
            model="m",
            task="t",
            task_type="summarization",
            metrics=["rouge-1"],
            stemming=stemming,
            shard=0,
            outputs=[SampleOutput(sample_id="1", prediction="running models", references=["runs model"], latency_ms=1)],
        )
        return score_outputs(outputs).scores[0].scores["rouge-1"]

    assert rouge1(True) == 1.0 and rouge1(False) == 0.0
    spec = parse_spec(
        {
            "name": "s",
            "models": ["builtin:lead"],
            "tasks": [{"name": "t", "type": "summarization", "dataset": "d.jsonl", "stemming": False}],
        }
    )
    samples = tuple(Sample(id="1", inputs={"document": "A. B."}, references=["a"]) for _ in range(1))
    plan, work = plan_benchmark(
        BenchmarkRequested(benchmark_id="bm_s", spec=spec),
        {"t": Dataset(location="d", samples=samples, digest=digest_samples(samples))},
        shard_size=4,
        max_message_bytes=900_000,
    )
    assert plan.tasks[0].stemming is False and work[0].task.stemming is False


def test_shards_are_cut_by_bytes_as_well_as_by_count() -> None:
    samples = tuple(Sample(id=str(i), inputs={"question": "q" * 30_000}, references=["a"]) for i in range(10))
    plan, work = plan_benchmark(
        _request(),
        {"qa": Dataset(location="d", samples=samples, digest=digest_samples(samples))},
        shard_size=32,
        max_message_bytes=100_000,
    )
    lead = [item for item in work if item.model.name == "lead"]
    assert [len(item.samples) for item in lead] == [3, 3, 3, 1] == plan.tasks[0].shard_sizes
    assert all(len(item.to_wire()) <= 100_000 for item in work)
    assert [s.id for item in lead for s in item.samples] == [str(i) for i in range(10)]  # order and every sample kept


def test_a_sample_too_large_for_any_message_fails_the_plan_naming_it() -> None:
    samples = (
        Sample(id="small", inputs={"question": "q"}, references=["a"]),
        Sample(id="huge", inputs={"question": "q" * 200_000}, references=["a"]),
    )
    with pytest.raises(DatasetError, match=r"task 'qa': sample 'huge' is 200,\d+ bytes encoded; one message holds at most"):
        plan_benchmark(
            _request(),
            {"qa": Dataset(location="d", samples=samples, digest=digest_samples(samples))},
            shard_size=32,
            max_message_bytes=100_000,
        )


def test_a_redrive_runs_only_the_shards_it_names() -> None:
    samples = tuple(Sample(id=str(i), inputs={"question": "q"}, references=["a"]) for i in range(10))
    request = _request().model_copy(update={"redrive": Redrive(attempt=1, shards=[ShardRef(model="lead", task="qa", shard=1)])})
    plan, work = plan_benchmark(
        request,
        {"qa": Dataset(location="d", samples=samples, digest=digest_samples(samples))},
        shard_size=4,
        max_message_bytes=900_000,
    )
    assert plan.tasks[0].shard_sizes == [4, 4, 2] and plan.expected_samples == 2 * 10
    assert [(item.model.name, item.shard, [s.id for s in item.samples]) for item in work] == [("lead", 1, ["4", "5", "6", "7"])]


def test_long_answers_split_a_shard_s_outputs_into_messages_that_fit() -> None:
    outputs = ModelOutputs(
        benchmark_id="bm_o",
        model="m",
        task="qa",
        task_type="qa",
        metrics=["exact-match"],
        shard=3,
        outputs=[SampleOutput(sample_id=str(i), prediction="p" * 30_000, references=["a"], latency_ms=1.0) for i in range(10)],
    )
    parts = split_outputs(outputs, max_bytes=100_000)
    assert [len(p.outputs) for p in parts] == [3, 3, 3, 1] and all(len(p.to_wire()) <= 100_000 for p in parts)
    assert {p.shard for p in parts} == {3} and [o.sample_id for p in parts for o in p.outputs] == [str(i) for i in range(10)]
    assert split_outputs(outputs, max_bytes=1_000_000) == [outputs]


def test_work_items_leave_the_inline_dataset_out() -> None:
    records = [{"id": str(i), "question": "q" * 1000, "answers": ["a"]} for i in range(50)]
    spec = parse_spec(
        {"name": "inline", "models": ["builtin:lead"], "tasks": [{"name": "qa", "type": "qa", "dataset": {"records": records}}]}
    )
    samples = tuple(Sample(id=r["id"], inputs={"question": r["question"]}, references=["a"]) for r in records)
    _, work = plan_benchmark(
        BenchmarkRequested(benchmark_id="bm_i", spec=spec),
        {"qa": Dataset(location="inline", samples=samples, digest=digest_samples(samples))},
        shard_size=5,
        max_message_bytes=900_000,
    )
    assert all(item.task.dataset.records == [] for item in work)
    assert all(len(item.to_wire()) < 10_000 for item in work)  # five samples each, not the whole dataset
    assert WorkItem.model_validate_json(work[0].to_wire()) == work[0]  # still a valid event
