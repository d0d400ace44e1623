"""Is the current run worse than the baseline, or is it noise? Paired tests on per-sample scores.

For each model x task x metric cell, over the samples both runs scored:
- delta = mean(current - baseline), its 95% CI from a seeded paired bootstrap;
- a two-sided p-value from a seeded sign-flip permutation test (exact under "no change" for
  symmetric differences; the bootstrap's own p-value ran at 5.4% false alarms at n = 100), or for
  binary metrics (exact-match, accuracy) McNemar's exact test on the discordant pairs;
- p-values adjusted across all the cells compared at once (Benjamini-Hochberg), so comparing more
  metrics does not mean more false alarms;
- the minimum detectable effect at 80% power: the smallest change this many samples can catch;
- the verdict: "regressed" or "improved" only when the adjusted p-value is below alpha, the CI
  excludes zero and |delta| is at least the tolerance; "unchanged" otherwise.
Pure: numpy, the standard library and the report's models (a cell's JSON is a ComparisonCell).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from shared.results.models import ComparisonCell, PairedTest, SampleDelta, Verdict
from shared.statistics import PICKS_AT_ONCE, RESAMPLE_CHUNK, bootstrap_mean_ci

__all__ = [
    "CellComparison",
    "Cells",
    "compare_cell",
    "paired_bootstrap",
    "mcnemar_exact",
    "benjamini_hochberg",
    "minimum_detectable_effect",
    "decide",
    "adjust_and_decide",
    "is_binary",
]

Cells = dict[tuple[str, str, str], dict[str, float]]
"""(model, task, metric) -> sample id -> score: one run's per-sample scores."""
ALPHA = 0.05
POWER = 0.8
_Z_ALPHA = NormalDist().inv_cdf(1 - ALPHA / 2)  # two-sided
_Z_POWER = NormalDist().inv_cdf(POWER)


@dataclass(frozen=True, slots=True)
class CellComparison:
    model: str
    task: str
    metric: str
    samples: int
    baseline: float
    current: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    minimum_detectable_effect: float
    tolerance: float
    test: PairedTest
    verdict: Verdict
    worst: tuple[tuple[str, float], ...]
    """The samples that got worst: (sample id, current - baseline), most negative first."""

    def to_model(self) -> ComparisonCell:
        """The cell as reports, comparisons and the API show it."""
        return ComparisonCell(
            model=self.model,
            task=self.task,
            metric=self.metric,
            samples=self.samples,
            baseline=self.baseline,
            current=self.current,
            delta=self.delta,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            p_value=self.p_value,
            p_adjusted=self.p_adjusted,
            minimum_detectable_effect=self.minimum_detectable_effect,
            tolerance=self.tolerance,
            test=self.test,
            verdict=self.verdict,
            worst=[SampleDelta(sample_id=sample_id, delta=delta) for sample_id, delta in self.worst],
        )

    def to_json(self) -> dict[str, object]:
        return self.to_model().to_json()


def paired_bootstrap(
    baseline: np.ndarray, current: np.ndarray, *, seed: int, resamples: int = 2000
) -> tuple[float, float, float, float]:
    """(delta, ci_low, ci_high, p_value) of mean(current - baseline): bootstrap CI, sign-flip p."""
    diffs = current - baseline
    delta = float(diffs.mean())
    if diffs.size < 2 or not np.any(diffs != diffs[0]):
        # Every difference the same: the exact sign-flip p-value is the chance that n fair coins
        # all agree, 2^(1-n): one sample, or two that moved alike, is no evidence of drift.
        return delta, delta, delta, 1.0 if delta == 0 else min(1.0, 2.0 ** (1 - diffs.size))
    rng = np.random.default_rng(seed)
    low, high = bootstrap_mean_ci(diffs, rng, resamples=resamples)
    # under "no change" each difference is as likely negative as positive: flip signs at random
    extreme = 0
    rows = max(1, min(RESAMPLE_CHUNK, PICKS_AT_ONCE // diffs.size))  # memory bounded as the bootstrap's
    for done in range(0, resamples, rows):
        signs = rng.choice(np.array([-1.0, 1.0]), size=(min(rows, resamples - done), diffs.size))
        extreme += int(np.count_nonzero(np.abs((signs * diffs).mean(axis=1)) >= abs(delta) - 1e-12))
    return delta, low, high, (extreme + 1) / (resamples + 1)


def is_binary(values: Iterable[float]) -> bool:
    """Right-or-wrong scores (0/1 or 0/100, as exact-match and accuracy give): McNemar applies."""
    seen = set(values)
    return seen <= {0.0, 1.0} or seen <= {0.0, 100.0}


def mcnemar_exact(baseline: np.ndarray, current: np.ndarray) -> float:
    """Two-sided exact McNemar p-value for paired binary outcomes (0 = wrong, non-zero = right)."""
    lost = int(np.count_nonzero((baseline > 0) & (current == 0)))
    gained = int(np.count_nonzero((baseline == 0) & (current > 0)))
    n = lost + gained
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(lost, gained) + 1)) / (1 << n)  # exact: 2**n as an int
    return min(1.0, 2 * tail)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Adjusted p-values controlling the false discovery rate across the cells."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 1.0
    for rank in range(len(order), 0, -1):
        index = order[rank - 1]
        running = min(running, p_values[index] * len(p_values) / rank)
        adjusted[index] = running
    return adjusted


def minimum_detectable_effect(diffs: np.ndarray) -> float:
    """Smallest |delta| a two-sided 5% test detects with 80% power on this many pairs."""
    if diffs.size < 2:
        return math.inf
    return (_Z_ALPHA + _Z_POWER) * float(diffs.std(ddof=1)) / math.sqrt(diffs.size)


def decide(cell: CellComparison, *, higher_is_better: bool = True) -> Verdict:
    significant = cell.p_adjusted < ALPHA and (cell.ci_low > 0 or cell.ci_high < 0)
    if not significant or abs(cell.delta) < cell.tolerance:
        return "unchanged"
    better = cell.delta > 0 if higher_is_better else cell.delta < 0
    return "improved" if better else "regressed"


def compare_cell(
    *,
    model: str,
    task: str,
    metric: str,
    baseline: Mapping[str, float],
    current: Mapping[str, float],
    tolerance: float,
    binary: bool,
    seed: int,
    worst: int = 5,
) -> CellComparison:
    """Compare one cell over the samples both runs share (p_adjusted = p until adjusted)."""
    shared = sorted(baseline.keys() & current.keys())
    if not shared:
        raise ValueError(f"{model} / {task} / {metric}: the two runs share no sample")
    before = np.array([baseline[s] for s in shared], dtype=float)
    after = np.array([current[s] for s in shared], dtype=float)
    delta, low, high, p_value = paired_bootstrap(before, after, seed=seed)
    if binary:
        p_value = mcnemar_exact(before, after)
    diffs = after - before
    worst_first = sorted(zip(shared, diffs.tolist(), strict=True), key=lambda pair: pair[1])[:worst]
    return CellComparison(
        model=model,
        task=task,
        metric=metric,
        samples=len(shared),
        baseline=float(before.mean()),
        current=float(after.mean()),
        delta=delta,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        p_adjusted=p_value,
        minimum_detectable_effect=minimum_detectable_effect(diffs),
        tolerance=tolerance,
        test="mcnemar-exact" if binary else "paired-bootstrap",
        verdict="unchanged",
        worst=tuple((sample_id, d) for sample_id, d in worst_first if d < 0),
    )


def adjust_and_decide(cells: Sequence[CellComparison], higher_is_better: Mapping[str, bool]) -> list[CellComparison]:
    """Benjamini-Hochberg across every cell of the comparison, then each cell's verdict."""
    adjusted = benjamini_hochberg([cell.p_value for cell in cells])
    decided = []
    for cell, p_adjusted in zip(cells, adjusted, strict=True):
        cell = replace(cell, p_adjusted=p_adjusted)
        decided.append(replace(cell, verdict=decide(cell, higher_is_better=higher_is_better.get(cell.metric, True))))
    return decided
