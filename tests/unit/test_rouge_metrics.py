"""ROUGE metrics equal rouge-score's RougeScorer (stemming on), the reference implementation."""

from __future__ import annotations

import random

import pytest
from rouge_score.rouge_scorer import RougeScorer

from shared.metrics.registry import get_metric

NAMES = {"rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-l": "rougeL", "rouge-lsum": "rougeLsum"}
VOCABULARY = (
    "the cat sat on a mat running runs ran quickly quick 1874 2024 42 Ærø café naïve Zürich über "
    "models model modelling evaluation evaluations , . ! ? ; - ( ) \n".split(" ")
)


def _random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(0, 40)))


def test_rouge_matches_rouge_score_on_varied_text() -> None:
    rng = random.Random(7)
    reference = RougeScorer(list(NAMES.values()), use_stemmer=True)
    for _ in range(300):
        prediction, target = _random_text(rng), _random_text(rng)
        expected = reference.score(target, prediction)
        for name, rouge_type in NAMES.items():
            got = get_metric(name).compute(prediction, [target])
            assert got.value == pytest.approx(expected[rouge_type].fmeasure, abs=1e-12)
            assert got.details["precision"] == pytest.approx(expected[rouge_type].precision, abs=1e-12)
            assert got.details["recall"] == pytest.approx(expected[rouge_type].recall, abs=1e-12)


def test_rouge_takes_the_best_reference() -> None:
    score = get_metric("rouge-1").compute("the cat sat", ["a dog barked", "the cat sat"])
    assert score.value == pytest.approx(1.0)


def test_rouge_lsum_splits_summaries_on_newlines() -> None:
    prediction = "the cat sat\non the mat"
    target = "on the mat\nthe cat sat"
    assert get_metric("rouge-lsum").compute(prediction, [target]).value == pytest.approx(1.0)
    assert get_metric("rouge-l").compute(prediction, [target]).value < 1.0


def test_stemming_is_on_by_default() -> None:
    assert get_metric("rouge-1").compute("running models", ["runs model"]).value == pytest.approx(1.0)


def test_empty_prediction_scores_zero() -> None:
    for name in NAMES:
        assert get_metric(name).compute("", ["some reference"]).value == 0.0


def test_stemming_can_be_switched_off_as_rouge_score_use_stemmer_false() -> None:
    unstemmed = RougeScorer(list(NAMES.values()), use_stemmer=False)
    prediction, target = "running models quickly", "runs model quick"
    expected = unstemmed.score(target, prediction)
    for name, rouge_type in NAMES.items():
        assert get_metric(name, stemming=False).compute(prediction, [target]).value == expected[rouge_type].fmeasure
    assert get_metric("rouge-1", stemming=False).compute("running models", ["runs model"]).value == 0.0


def test_stemming_switch_leaves_metrics_that_do_not_stem_alone() -> None:
    assert get_metric("exact-match", stemming=False) is get_metric("exact-match")


def test_the_four_variants_share_one_computation() -> None:
    from shared.metrics import rouge

    rouge.clear_caches()
    for name in NAMES:
        get_metric(name).compute("a shared prediction\nof two lines", ["a shared reference"])
    info = rouge._best_scores.cache_info()
    assert (info.misses, info.hits) == (1, 3)


def test_rouge_without_references_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one reference"):
        get_metric("rouge-1").compute("a prediction", [])
