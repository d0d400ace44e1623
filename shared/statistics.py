"""Corpus statistics: means with a seeded bootstrap 95% confidence interval, and percentiles."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PICKS_AT_ONCE", "RESAMPLE_CHUNK", "MeanWithCI", "bootstrap_mean_ci", "bootstrap_picks", "mean_with_ci", "percentile"]

RESAMPLE_CHUNK = 250
"""Resamples drawn at once: memory stays at 250 x n numbers however many resamples there are
(drawing in chunks takes the same numbers from the generator as drawing all at once)."""
PICKS_AT_ONCE = 1_000_000
"""...and at most this many indices (8 MB, and as much again for the values they pick): with
100,000 samples, 10 resamples at a time rather than 250 (2 x 200 MB)."""


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
    low, high = bootstrap_mean_ci(data, np.random.default_rng(seed), resamples=resamples, level=level)
    return MeanWithCI(mean=mean, ci_low=low, ci_high=high, n=int(data.size))


def bootstrap_picks(rng: np.random.Generator, n: int, resamples: int) -> Iterator[np.ndarray]:
    """The bootstrap's resamples of n items, as rows of indices, a chunk of rows at a time."""
    rows = max(1, min(RESAMPLE_CHUNK, PICKS_AT_ONCE // max(n, 1)))
    for done in range(0, resamples, rows):
        yield rng.integers(0, n, size=(min(rows, resamples - done), n))


def bootstrap_mean_ci(data: np.ndarray, rng: np.random.Generator, *, resamples: int, level: float = 0.95) -> tuple[float, float]:
    """The percentile-bootstrap confidence interval of data's mean."""
    means = np.concatenate([data[picks].mean(axis=1) for picks in bootstrap_picks(rng, data.size, resamples)])
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None
