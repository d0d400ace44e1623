"""ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum F-measures, computed by the `rouge-score` package.

Stemming is on (as in most published ROUGE numbers); with several references the best
F-measure counts, as `RougeScorer.score_multi` does. ROUGE-Lsum splits on newlines.
"""

from __future__ import annotations

from functools import cache

from rouge_score.rouge_scorer import RougeScorer

from services.scorer.metrics.base import Metric, MetricValue

__all__ = ["METRICS"]


@cache
def _scorer(rouge_type: str) -> RougeScorer:
    return RougeScorer([rouge_type], use_stemmer=True)


def _rouge(rouge_type: str):
    def compute(prediction: str, references: list[str]) -> MetricValue:
        score = _scorer(rouge_type).score_multi(references, prediction)[rouge_type]
        return MetricValue(score.fmeasure, {"precision": score.precision, "recall": score.recall})

    return compute


METRICS = tuple(
    Metric(name=name, compute=_rouge(rouge_type), scale=1.0, description=f"{rouge_type} F-measure (rouge-score, stemmed)")
    for name, rouge_type in (
        ("rouge-1", "rouge1"),
        ("rouge-2", "rouge2"),
        ("rouge-l", "rougeL"),
        ("rouge-lsum", "rougeLsum"),
    )
)
