"""The metric registry: every metric the scorer knows, registered explicitly in one tuple.

Adding a metric is one small module in this package plus its name in METRICS below.
"""

from __future__ import annotations

import difflib

from shared.errors import UnknownMetric
from shared.metrics import bleu, classification, rouge, squad
from shared.metrics.base import Metric

__all__ = ["METRICS", "get_metric", "metric_names"]

METRICS: dict[str, Metric] = {
    metric.name: metric for metric in (*rouge.METRICS, *squad.METRICS, *classification.METRICS, *bleu.METRICS)
}

_UNSTEMMED: dict[str, Metric] = {metric.name: metric for metric in rouge.metrics(stemming=False)}
"""The variants of the metrics that stem (ROUGE), with stemming off."""


def metric_names() -> list[str]:
    return sorted(METRICS)


def get_metric(name: str, *, stemming: bool = True) -> Metric:
    """The metric called `name`, or UnknownMetric with "did you mean ...? available: ...".

    `stemming=False` gives the unstemmed variant of a metric that stems (ROUGE); the others do
    not stem either way.
    """
    try:
        metric = METRICS[name]
    except KeyError:
        close = difflib.get_close_matches(name, metric_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownMetric(f"unknown metric {name!r}{hint}; available: {', '.join(metric_names())}") from None
    return metric if stemming else _UNSTEMMED.get(name, metric)
