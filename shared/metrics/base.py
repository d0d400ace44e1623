"""What a metric is. Each metric family module builds its Metrics from this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["CorpusStatistic", "Metric", "MetricValue"]


@dataclass(frozen=True, slots=True)
class MetricValue:
    value: float
    """On the metric's report scale (e.g. 0..100 for exact-match)."""
    details: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CorpusStatistic:
    """A corpus-level value that is not a mean of sample values (e.g. corpus BLEU): each sample
    stores additive sufficient statistics in its details, the corpus value is a function of
    their sums, and a bootstrap resamples samples and recomputes it."""

    fields: tuple[str, ...]
    """Keys of MetricValue.details, summed over the samples."""
    compute: Callable[[Sequence[float]], float]
    """The sums, in `fields` order -> the corpus value, on the metric's report scale."""


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    compute: Callable[[str, list[str]], MetricValue]
    """(prediction, references) -> value; an empty prediction scores 0, never raises."""
    scale: float
    """Upper end of the range: 1.0 for F-measures, 100.0 for SQuAD percentages."""
    higher_is_better: bool = True
    corpus: CorpusStatistic | None = None
    """How the corpus value is made from the samples; None: the mean of the sample values."""
    description: str = ""
