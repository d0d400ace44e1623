"""Memory bounded by the work in flight (issue 16, item 4): each way of holding less gives the
same numbers as holding everything at once."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from services.runner.planner import plan_benchmark, plan_work
from shared import statistics
from shared.datasets import Dataset, digest_samples
from shared.events import BenchmarkPlanned, BenchmarkRequested, Redrive, Sample, SampleScore, ShardRef, TaskPlan
from shared.jsonl import json_objects
from shared.metrics import aggregation
from shared.metrics.registry import get_metric
from shared.results.report import ScoredSample, build_report
from shared.spec import parse_spec


def test_bootstrap_picks_drawn_a_few_rows_at_a_time_are_the_picks_drawn_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = np.random.default_rng(5).integers(0, 1001, size=(300, 1001))
    monkeypatch.setattr(statistics, "PICKS_AT_ONCE", 3_000)  # 2 rows of 1,001 at a time
    chunks = list(statistics.bootstrap_picks(np.random.default_rng(5), 1001, 300))
    assert max(len(chunk) for chunk in chunks) == 2
    assert np.array_equal(np.concatenate(chunks), whole)


def test_bootstrap_intervals_do_not_depend_on_how_many_rows_are_drawn_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    values = rng.random(777).tolist()
    bleu = get_metric("bleu")
    assert bleu.corpus is not None
    words = "a cat sat on the mat by a red door".split()
    pairs = [(" ".join(rng.choice(words, 6)), [" ".join(rng.choice(words, 7))]) for _ in range(300)]
    details = [bleu.compute(prediction, references).details for prediction, references in pairs]
    before = (
        statistics.mean_with_ci(values, seed=4, resamples=500),
        aggregation.corpus_with_ci(bleu.corpus, details, seed=4, resamples=500),
    )
    monkeypatch.setattr(statistics, "PICKS_AT_ONCE", 1_000)  # one resample at a time
    monkeypatch.setattr(aggregation, "PICKS_AT_ONCE", 1_000)
    after = (
        statistics.mean_with_ci(values, seed=4, resamples=500),
        aggregation.corpus_with_ci(bleu.corpus, details, seed=4, resamples=500),
    )
    assert after == before


@pytest.mark.parametrize("text", ["", "\n", '{"a": 1}\n{"b": 2}', '{"a": 1}\n \n{"b": 2}\n', '{"x": "a\u2028b"}\n\n{"y": 1}'])
def test_json_lines_are_numbered_as_a_split_on_line_feeds_numbers_them(text: str) -> None:
    expected = [(n, json.loads(line)) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    assert [(n, record) for n, _, record in json_objects(text, location="f")] == expected


def test_the_dataset_digest_hashes_the_records_as_one_json_list() -> None:
    samples = [Sample(id=f"s{i}", inputs={"question": f"q{i} é\u2028"}, references=["r", "ü"]) for i in range(5)]
    whole = json.dumps([s.model_dump() for s in samples], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert digest_samples(samples) == "sha256:" + hashlib.sha256(whole.encode()).hexdigest()
    assert digest_samples([]) == "sha256:" + hashlib.sha256(b"[]").hexdigest()


def _request(redrive: Redrive | None = None) -> BenchmarkRequested:
    spec = parse_spec(
        {
            "name": "lazy",
            "models": ["builtin:lead", "builtin:extractive"],
            "tasks": [
                {"name": "qa", "type": "qa", "dataset": {"records": [{"question": "q", "context": "c", "answers": ["a"]}]}},
                {"name": "qb", "type": "qa", "dataset": {"records": [{"question": "q", "context": "c", "answers": ["a"]}]}},
            ],
        }
    )
    return BenchmarkRequested(benchmark_id="bm_lazy", spec=spec, redrive=redrive)


def _datasets() -> dict[str, Dataset]:
    samples = tuple(Sample(id=str(i), inputs={"question": "q", "context": "c"}, references=["a"]) for i in range(10))
    return {name: Dataset(location="inline", samples=samples, digest="sha256:d") for name in ("qa", "qb")}


@pytest.mark.parametrize(
    "redrive",
    [
        None,
        Redrive(attempt=1, shards=[ShardRef(model="extractive", task="qa", shard=1), ShardRef(model="lead", task="qb", shard=2)]),
    ],
)
def test_work_planned_lazily_is_the_work_planned_at_once(redrive: Redrive | None) -> None:
    request = _request(redrive)
    plan, work = plan_benchmark(request, _datasets(), shard_size=4, max_message_bytes=900_000)
    lazy_plan, lazy_work = plan_work(request, _datasets(), shard_size=4, max_message_bytes=900_000)
    assert lazy_plan.model_copy(update={"planned_at": plan.planned_at}) == plan
    assert list(lazy_work) == work
    assert plan.shards == 12 and len(work) == (2 if redrive else 12)


def test_a_corpus_sample_without_its_sufficient_statistics_is_refused() -> None:
    plan_task = TaskPlan(name="t", type="qa", dataset="inline", dataset_digest="sha256:d", samples=1, metrics=["bleu"])
    score = SampleScore(sample_id="s", scores={"bleu": 10.0}, details={"bleu": {}}, prediction="p", latency_ms=1.0)
    plan = BenchmarkPlanned(benchmark_id="bm", name="n", suite="n", models=["m"], tasks=[plan_task], shards=1)
    with pytest.raises(ValueError, match="lacks the sufficient statistic"):
        build_report(plan, [ScoredSample("m", "t", score)], status="completed")
