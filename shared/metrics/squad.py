"""SQuAD v1.1 exact match and F1, as the official evaluation script defines them.

Normalisation: lower case, drop punctuation, drop the articles a/an/the, collapse whitespace.
Each metric takes the maximum over the gold answers and is reported in percent (0..100).
"""

from __future__ import annotations

import re
import string
from collections import Counter

from shared.metrics.base import Metric, MetricValue

__all__ = ["METRICS", "normalize_answer", "exact_match", "token_f1"]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(reference).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _exact_match(prediction: str, references: list[str]) -> MetricValue:
    return MetricValue(100.0 * max(exact_match(prediction, ref) for ref in references))


def _f1(prediction: str, references: list[str]) -> MetricValue:
    return MetricValue(100.0 * max(token_f1(prediction, ref) for ref in references))


METRICS = (
    Metric(name="exact-match", compute=_exact_match, scale=100.0, description="SQuAD v1.1 exact match, percent"),
    Metric(name="f1-score", compute=_f1, scale=100.0, description="SQuAD v1.1 token F1, percent"),
)
