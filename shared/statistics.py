"""Corpus statistics: means with a seeded bootstrap 95% confidence interval, and percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MeanWithCI", "mean_with_ci", "percentile"]


@dataclass(frozen=True, slots=True)
class MeanWithCI:
    mean: float | None
    """None without values: NaN is valid in neither JSON nor BSON (FerretDB refuses it)."""
    ci_low: float | None
    ci_high: float | None
    n: int


def mean_with_ci(values: Sequence[float], *, seed: int, resamples: int = 1000, level: float = 0.95) -> MeanWithCI:
    """Sample mean and percentile-bootstrap CI; the same seed and values give the same interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return MeanWithCI(mean=None, ci_low=None, ci_high=None, n=0)
    mean = float(data.mean())
    if data.size == 1:
        return MeanWithCI(mean=mean, ci_low=mean, ci_high=mean, n=1)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return MeanWithCI(mean=mean, ci_low=float(low), ci_high=float(high), n=int(data.size))


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None
