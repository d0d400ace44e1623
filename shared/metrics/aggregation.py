"""A metric's corpus value with a seeded bootstrap 95% confidence interval, whatever its aggregation.

Mean metrics: the sample mean (shared.statistics.mean_with_ci). Corpus statistics
(e.g. BLEU): the statistic of the summed per-sample sufficient statistics, and the bootstrap
resamples samples with the same generator calls as the mean's, then recomputes the statistic.
The report and `benchmarks score` both aggregate through here, so they always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from shared.metrics.base import CorpusStatistic, Metric
from shared.statistics import PICKS_AT_ONCE, MeanWithCI, bootstrap_picks, mean_with_ci

__all__ = ["aggregate_with_ci", "corpus_stats_with_ci", "corpus_with_ci"]

_CHUNK = 64
"""Resamples summed at once: bounds memory at _CHUNK x samples x fields floats, and at
PICKS_AT_ONCE floats for a large corpus."""


def aggregate_with_ci(
    metric: Metric,
    values: Sequence[float],
    details: Sequence[Mapping[str, float]],
    *,
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
) -> MeanWithCI:
    """`values` and `details` are the samples' MetricValue parts, in the same order.
    For a corpus statistic `mean` holds the corpus value."""
    if metric.corpus is None:
        return mean_with_ci(values, seed=seed, resamples=resamples, level=level)
    return corpus_with_ci(metric.corpus, details, seed=seed, resamples=resamples, level=level)


def corpus_with_ci(
    statistic: CorpusStatistic,
    details: Sequence[Mapping[str, float]],
    *,
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
) -> MeanWithCI:
    if not details:
        return MeanWithCI(mean=None, ci_low=None, ci_high=None, n=0)
    try:
        stats = np.array([[sample[name] for name in statistic.fields] for sample in details], dtype=float)
    except KeyError as exc:
        raise ValueError(f"a sample lacks the sufficient statistic {exc.args[0]!r} of a corpus metric") from None
    return corpus_stats_with_ci(statistic, stats, seed=seed, resamples=resamples, level=level)


def corpus_stats_with_ci(
    statistic: CorpusStatistic, stats: np.ndarray, *, seed: int, resamples: int = 1000, level: float = 0.95
) -> MeanWithCI:
    """`corpus_with_ci` of the samples' sufficient statistics as rows (`statistic.fields` order)
    of a float array: how the report aggregates without a dict per sample."""
    if len(stats) == 0:
        return MeanWithCI(mean=None, ci_low=None, ci_high=None, n=0)
    value = float(statistic.compute(stats.sum(axis=0).tolist()))
    n = len(stats)
    if n == 1:
        return MeanWithCI(mean=value, ci_low=value, ci_high=value, n=1)
    chunk = max(1, min(_CHUNK, PICKS_AT_ONCE // stats.size))  # a row's sums do not depend on the chunk
    values = [
        statistic.compute(totals)
        for picks in bootstrap_picks(np.random.default_rng(seed), n, resamples)  # as mean_with_ci draws them
        for start in range(0, len(picks), chunk)
        for totals in stats[picks[start : start + chunk]].sum(axis=1).tolist()
    ]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return MeanWithCI(mean=value, ci_low=float(low), ci_high=float(high), n=n)
