"""SQuAD v1.1 exact match and F1 against hand-checked values."""

from __future__ import annotations

import pytest

from shared.metrics.registry import get_metric
from shared.metrics.squad import normalize_answer


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple, a pear  ", "apple pear"),
        ("A.B.C.", "abc"),
        ("Theatre of the absurd", "theatre of absurd"),  # 'the' only as a whole word
        ("", ""),
    ],
)
def test_normalisation_follows_squad_v1_1(text: str, normalised: str) -> None:
    assert normalize_answer(text) == normalised


@pytest.mark.parametrize(
    ("prediction", "references", "em", "f1"),
    [
        ("in 1874", ["1874", "in 1874"], 100.0, 100.0),
        ("The Palm Dome.", ["Palm Dome"], 100.0, 100.0),  # article, case and punctuation ignored
        ("palm", ["the Palm Dome"], 0.0, 2 * (1.0 * 0.5) / 1.5 * 100),  # P=1, R=1/2 -> F1=2/3
        ("the big red house", ["red house on the hill"], 0.0, 2 * (2 / 3 * 2 / 4) / (2 / 3 + 2 / 4) * 100),
        ("nine", ["9"], 0.0, 0.0),
        ("", ["anything"], 0.0, 0.0),  # an empty prediction scores 0, it does not raise
        ("the", ["a"], 100.0, 0.0),  # both normalise to empty: equal strings, but no common token
        ("Lena Mirov", ["Anya and Lena Mirov", "Lena Mirov"], 100.0, 100.0),  # max over gold answers
    ],
)
def test_exact_match_and_f1_on_hand_checked_cases(prediction: str, references: list[str], em: float, f1: float) -> None:
    assert get_metric("exact-match").compute(prediction, references).value == pytest.approx(em)
    assert get_metric("f1-score").compute(prediction, references).value == pytest.approx(f1)


def test_repeated_tokens_count_once_per_match() -> None:
    # predicted: cat cat cat (3), gold: cat (1): common = 1 -> P = 1/3, R = 1 -> F1 = 0.5
    assert get_metric("f1-score").compute("cat cat cat", ["cat"]).value == pytest.approx(50.0)
