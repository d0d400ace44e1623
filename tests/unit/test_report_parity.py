"""The report and the drift comparison are pinned to the exact figures of a seeded fixture.

tests/unit/golden/report_parity.json was written by the code before reports were built from
streamed, compact per-cell arrays (issue 16, item 4); every float must still come out the same,
to the last bit. Regenerate it only for a deliberate change of the numbers:
    .venv/bin/python -m tests.unit.test_report_parity
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from shared.events import BenchmarkPlanned, SampleScore, SampleScores, TaskPlan
from shared.metrics.registry import get_metric
from shared.results.comparison import compare_runs, sample_values
from shared.results.completion import complete_if_done
from shared.results.report import ScoredSample, build_report
from shared.results.sqlite_store import SqliteStore
from shared.results.store import BenchmarkRecord

GOLDEN = Path(__file__).parent / "golden" / "report_parity.json"
WORDS = "the cat sat on a mat while dogs ran far away from old red barns near river banks".split()
TASKS = {"translation": ["bleu", "rouge-1"], "qa": ["exact-match", "f1-score"]}
MODELS = ["alpha", "beta"]
SAMPLES = 120


def _plan(benchmark_id: str) -> BenchmarkPlanned:
    return BenchmarkPlanned(
        benchmark_id=benchmark_id,
        name="parity",
        suite="parity",
        models=MODELS,
        tasks=[
            TaskPlan(name=name, type="qa", dataset="inline", dataset_digest="sha256:p", samples=SAMPLES, metrics=metrics)
            for name, metrics in TASKS.items()
        ],
        shards=4,
    )


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))


def _scored(seed: int) -> list[ScoredSample]:
    """Every model x task x sample, shuffled: errors without scores, costs on one model only,
    a corpus metric (BLEU) beside mean metrics."""
    rng = random.Random(seed)
    rows = []
    for model in MODELS:
        for task, metrics in TASKS.items():
            for index in range(SAMPLES):
                error = "timeout" if rng.random() < 0.05 else None
                prediction = "" if error else _sentence(rng)
                references = [_sentence(rng), _sentence(rng)]
                values = {} if error else {name: get_metric(name).compute(prediction, references) for name in metrics}
                score = SampleScore(
                    sample_id=f"{task}-{index:04d}",
                    scores={name: v.value for name, v in values.items()},
                    details={name: v.details for name, v in values.items() if v.details},
                    prediction=prediction,
                    latency_ms=round(rng.uniform(5, 500), 3),
                    prompt_tokens=rng.randint(10, 90),
                    completion_tokens=None if error else rng.randint(1, 30),
                    cost=round(rng.uniform(0, 0.01), 6) if model == "beta" and not error else None,
                    error=error,
                )
                rows.append(ScoredSample(model, task, score))
    rng.shuffle(rows)
    return rows


def _record(plan: BenchmarkPlanned) -> BenchmarkRecord:
    return BenchmarkRecord(
        benchmark_id=plan.benchmark_id,
        tenant="default",
        name=plan.name,
        suite=plan.suite,
        status="completed",
        trigger="api",
        created_at=plan.planned_at,
        updated_at=plan.planned_at,
        spec={},
        plan=plan,
        report=None,
        reason=None,
    )


async def _completed_with_drift(path: Path) -> dict[str, Any] | None:
    """bm_now's report as the completion path makes it (scores read back from a store), with the
    drift section against bm_base, the suite's baseline."""
    store = SqliteStore(path)
    record = None
    try:
        for benchmark_id, seed in (("bm_base", 1), ("bm_now", 2)):
            await store.save_plan(_plan(benchmark_id))
            rows = _scored(seed)
            for model in MODELS:
                for task in TASKS:
                    mine = [row.score for row in rows if (row.model, row.task) == (model, task)]
                    await store.save_scores(SampleScores(benchmark_id=benchmark_id, model=model, task=task, shard=0, scores=mine))
            record = await complete_if_done(store, benchmark_id, bootstrap_seed=3, bootstrap_resamples=400)
            await store.set_baseline("parity", dict.fromkeys(MODELS, "bm_base"))
        return record.report if record is not None else None
    finally:
        await store.close()


def _figures(directory: Path) -> dict[str, Any]:
    baseline, current = _scored(1), _scored(2)
    report = build_report(_plan("bm_now"), current, status="completed", bootstrap_seed=3, bootstrap_resamples=400)
    comparison = compare_runs(
        (_record(_plan("bm_now")), sample_values(current)),
        {m: (_record(_plan("bm_base")), sample_values(baseline)) for m in MODELS},
    )
    stored = asyncio.run(_completed_with_drift(directory / "parity.db"))
    return {"report": report.to_json(), "comparison": comparison.to_json(), "stored": stored}


def test_report_comparison_and_completion_match_the_pinned_figures(tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert _figures(tmp_path) == golden
    assert golden["stored"]["drift"]["cells"] and {**golden["stored"], "drift": None} == {**golden["report"], "drift": None}


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        GOLDEN.write_text(json.dumps(_figures(Path(directory)), indent=1, sort_keys=True) + "\n")
