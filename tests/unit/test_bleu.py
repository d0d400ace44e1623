"""BLEU equals sacrebleu's corpus BLEU; corpus metrics aggregate as corpus statistics in reports."""

from __future__ import annotations

import random

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU

from shared.events import BenchmarkPlanned, SampleScore, TaskPlan
from shared.metrics.aggregation import aggregate_with_ci
from shared.metrics.registry import get_metric
from shared.results.report import ScoredSample, build_report

WORDS = "the cat sat on a mat . , dog ran quickly in 1874 Zürich ! ? it's don't (see) co-operate".split()


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 25)))


def _corpus(seed: int, size: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    predictions = [_text(rng) for _ in range(size)]
    references = [[_text(rng) for _ in range(rng.randint(1, 3))] for _ in range(size)]
    return predictions, references


def _sacrebleu_corpus(predictions: list[str], references: list[list[str]]) -> float:
    # sacrebleu takes reference streams; a sample with fewer references has None in the others
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(max(map(len, references)))]
    return BLEU().corpus_score(predictions, streams).score


def _our_corpus(predictions: list[str], references: list[list[str]], *, seed: int = 0) -> float | None:
    metric = get_metric("bleu")
    values = [metric.compute(p, refs) for p, refs in zip(predictions, references, strict=True)]
    return aggregate_with_ci(metric, [v.value for v in values], [v.details for v in values], seed=seed).mean


@pytest.mark.parametrize("seed", range(5))
def test_corpus_bleu_equals_sacrebleu_corpus_score_with_varying_reference_counts(seed: int) -> None:
    predictions, references = _corpus(seed, 80)
    assert _our_corpus(predictions, references) == pytest.approx(_sacrebleu_corpus(predictions, references), abs=1e-9)


def test_corpus_bleu_equals_sacrebleu_on_a_realistic_corpus() -> None:
    predictions = ["The cat is on the mat.", "There is a cat on the mat.", "Hello world", ""]
    references = [["The cat is on the mat."], ["The cat sat on the mat.", "A cat is on a mat."], ["Hello, world!"], ["x"]]
    expected = _sacrebleu_corpus(predictions, references)
    assert 0 < expected < 100
    assert _our_corpus(predictions, references) == pytest.approx(expected, abs=1e-9)


def test_corpus_bleu_is_not_the_mean_of_sentence_bleu() -> None:
    predictions, references = _corpus(7, 40)
    metric = get_metric("bleu")
    mean = sum(metric.compute(p, r).value for p, r in zip(predictions, references, strict=False)) / len(predictions)
    assert abs(_our_corpus(predictions, references) - mean) > 0.1


def test_a_sample_value_is_sacrebleu_sentence_bleu() -> None:
    rng = random.Random(3)
    for _ in range(50):
        prediction, references = _text(rng), [_text(rng) for _ in range(rng.randint(1, 3))]
        expected = sacrebleu.sentence_bleu(prediction, references).score
        assert get_metric("bleu").compute(prediction, references).value == pytest.approx(expected, abs=1e-9)


def test_an_empty_prediction_scores_zero() -> None:
    assert get_metric("bleu").compute("", ["a reference"]).value == 0.0


def test_corpus_bootstrap_is_reproducible_for_a_seed_and_brackets_the_value() -> None:
    predictions, references = _corpus(11, 60)
    metric = get_metric("bleu")
    values = [metric.compute(p, r) for p, r in zip(predictions, references, strict=False)]
    first, again, other = (
        aggregate_with_ci(metric, [v.value for v in values], [v.details for v in values], seed=seed) for seed in (4, 4, 5)
    )
    assert first == again
    assert first != other
    assert first.ci_low < first.mean < first.ci_high and first.n == 60


def test_report_gives_corpus_bleu_beside_mean_metrics() -> None:
    predictions, references = _corpus(2, 30)
    plan = BenchmarkPlanned(
        benchmark_id="bm_bleu",
        name="bleu",
        suite="bleu",
        models=["m"],
        tasks=[
            TaskPlan(
                name="translation",
                type="summarization",
                dataset="inline",
                dataset_digest="sha256:x",
                samples=30,
                metrics=["bleu", "rouge-1"],
            )
        ],
        shards=1,
    )
    scored = []
    for index, (prediction, refs) in enumerate(zip(predictions, references, strict=False)):
        values = {name: get_metric(name).compute(prediction, refs) for name in ("bleu", "rouge-1")}
        scored.append(
            ScoredSample(
                "m",
                "translation",
                SampleScore(
                    sample_id=f"s{index:02d}",
                    scores={name: v.value for name, v in values.items()},
                    details={name: v.details for name, v in values.items()},
                    prediction=prediction,
                    latency_ms=1.0,
                ),
            )
        )
    report = build_report(plan, scored, status="completed").to_json()
    cell = report["results"][0]["translation"]
    assert cell["bleu"] == pytest.approx(_sacrebleu_corpus(predictions, references), abs=1e-9)
    assert cell["rouge-1"] == pytest.approx(sum(s.score.scores["rouge-1"] for s in scored) / 30)
    stats = report["details"][0]["metrics"]["bleu"]
    assert stats["ciLow"] <= stats["value"] <= stats["ciHigh"]
