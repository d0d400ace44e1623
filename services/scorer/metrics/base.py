"""What a metric is. Each metric family module builds its Metrics from this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Metric", "MetricValue"]


@dataclass(frozen=True, slots=True)
class MetricValue:
    value: float
    """On the metric's report scale (e.g. 0..100 for exact-match)."""
    details: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    compute: Callable[[str, list[str]], MetricValue]
    """(prediction, references) -> value; an empty prediction scores 0, never raises."""
    scale: float
    """Upper end of the range: 1.0 for F-measures, 100.0 for SQuAD percentages."""
    higher_is_better: bool = True
    aggregation: str = "mean"
    description: str = ""
