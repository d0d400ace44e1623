"""Accuracy for classification: the normalised prediction equals a gold label."""

from __future__ import annotations

from shared.metrics.base import Metric, MetricValue

__all__ = ["METRICS", "normalize_label"]


def normalize_label(text: str) -> str:
    """Case, surrounding whitespace and trailing punctuation do not make a label wrong."""
    return " ".join(text.strip().strip(".!?:;,\"'").lower().split())


def _accuracy(prediction: str, references: list[str]) -> MetricValue:
    predicted = normalize_label(prediction)
    return MetricValue(float(any(predicted == normalize_label(ref) for ref in references)))


METRICS = (Metric(name="accuracy", compute=_accuracy, scale=1.0, description="share of exact label matches"),)
