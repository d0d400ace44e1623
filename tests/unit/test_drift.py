"""Drift verdicts: paired tests that catch real regressions and do not alarm on noise."""

from __future__ import annotations

import numpy as np
import pytest

from shared.results.drift import (
    adjust_and_decide,
    benjamini_hochberg,
    compare_cell,
    mcnemar_exact,
    minimum_detectable_effect,
    paired_bootstrap,
)


def _scores(values: np.ndarray) -> dict[str, float]:
    return {f"s{i}": float(v) for i, v in enumerate(values)}


def _cell(baseline: np.ndarray, current: np.ndarray, *, tolerance: float = 0.0, binary: bool = False, metric: str = "rouge-1"):
    return compare_cell(
        model="m",
        task="t",
        metric=metric,
        baseline=_scores(baseline),
        current=_scores(current),
        tolerance=tolerance,
        binary=binary,
        seed=0,
    )


def test_a_clear_regression_is_caught_and_its_worst_samples_named() -> None:
    rng = np.random.default_rng(1)
    baseline = rng.uniform(0.3, 0.7, 300)
    current = baseline - 0.05 + rng.normal(0, 0.02, 300)
    current[7] = baseline[7] - 0.5
    [cell] = adjust_and_decide([_cell(baseline, current)], {})
    assert cell.verdict == "regressed" and cell.ci_high < 0 and cell.p_adjusted < 0.01
    assert cell.delta == pytest.approx(float((current - baseline).mean()))
    assert cell.worst[0][0] == "s7"
    [tolerant] = adjust_and_decide([_cell(baseline, current, tolerance=0.1)], {})
    assert tolerant.verdict == "unchanged"  # significant, but smaller than the suite's tolerance


def test_an_improvement_is_not_a_regression_and_direction_follows_the_metric() -> None:
    baseline = np.linspace(0.2, 0.6, 200)
    current = baseline + 0.05
    [cell] = adjust_and_decide([_cell(baseline, current)], {})
    assert cell.verdict == "improved"
    [lower_better] = adjust_and_decide([_cell(baseline, current, metric="latency")], {"latency": False})
    assert lower_better.verdict == "regressed"


def test_pure_noise_across_many_cells_does_not_alarm() -> None:
    rng = np.random.default_rng(7)
    cells = []
    for i in range(40):
        baseline = rng.uniform(0, 1, 100)
        current = np.clip(baseline + rng.normal(0, 0.05, 100), 0, 1)
        cells.append(
            compare_cell(
                model="m",
                task=f"t{i}",
                metric="rouge-1",
                baseline=_scores(baseline),
                current=_scores(current),
                tolerance=0.0,
                binary=False,
                seed=i,
            )
        )
    assert all(cell.verdict == "unchanged" for cell in adjust_and_decide(cells, {}))


def test_identical_runs_are_unchanged() -> None:
    values = np.linspace(0, 1, 50)
    [cell] = adjust_and_decide([_cell(values, values)], {})
    assert cell.delta == 0 and cell.p_value == 1.0 and cell.verdict == "unchanged"


def test_a_few_samples_that_moved_alike_are_no_evidence() -> None:
    # All differences equal: the exact sign-flip p-value is 2^(1-n), never 0
    [one] = adjust_and_decide([_cell(np.array([0.5]), np.array([0.2]))], {})
    assert one.p_value == 1.0 and one.verdict == "unchanged"
    assert paired_bootstrap(np.zeros(3), np.full(3, -0.1), seed=0)[3] == 0.25
    [many] = adjust_and_decide([_cell(np.full(20, 0.5), np.full(20, 0.2))], {})
    assert many.p_value < 1e-5 and many.verdict == "regressed"


def test_binary_metrics_use_an_exact_mcnemar_test() -> None:
    assert mcnemar_exact(np.array([1] * 10), np.array([0] * 10)) == pytest.approx(2 / 1024)
    assert mcnemar_exact(np.array([1, 0, 1, 0]), np.array([0, 1, 0, 1])) == 1.0
    assert mcnemar_exact(np.array([1, 1]), np.array([1, 1])) == 1.0
    baseline = np.array([100.0] * 60 + [0.0] * 40)
    current = baseline.copy()
    current[:15] = 0.0  # 15 answers lost, none gained
    cell = _cell(baseline, current, binary=True, metric="exact-match")
    assert cell.test == "mcnemar-exact" and cell.p_value == pytest.approx(2 / 2**15)


def test_benjamini_hochberg_matches_hand_computed_values() -> None:
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert benjamini_hochberg([]) == []


def test_minimum_detectable_effect_shrinks_with_more_samples() -> None:
    rng = np.random.default_rng(3)
    small, large = rng.normal(0, 0.1, 50), rng.normal(0, 0.1, 5000)
    assert minimum_detectable_effect(large) < minimum_detectable_effect(small) / 5
    assert minimum_detectable_effect(np.array([0.1])) == float("inf")


def test_the_paired_bootstrap_is_reproducible_for_a_seed() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0, 1, 80), rng.uniform(0, 1, 80)
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)


def test_only_shared_samples_are_compared() -> None:
    cell = compare_cell(
        model="m",
        task="t",
        metric="f1-score",
        baseline={"a": 1.0, "b": 0.0},
        current={"b": 1.0, "c": 0.0},
        tolerance=0,
        binary=False,
        seed=0,
    )
    assert cell.samples == 1
    with pytest.raises(ValueError, match="share no sample"):
        compare_cell(
            model="m", task="t", metric="f1-score", baseline={"a": 1.0}, current={"c": 1.0}, tolerance=0, binary=False, seed=0
        )


def _simulated_pair(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample difficulty plus run noise: the same distribution for both runs, but `shift`."""
    difficulty = rng.uniform(0.2, 0.8, n)
    return difficulty + rng.normal(0, 0.1, n), difficulty + shift + rng.normal(0, 0.1, n)


def test_false_alarm_rate_under_no_change_is_at_most_alpha() -> None:
    rng = np.random.default_rng(2024)
    alarms = 0
    for trial in range(500):
        baseline, current = _simulated_pair(rng, 100, 0.0)
        [cell] = adjust_and_decide([_cell_seeded(baseline, current, trial)], {})
        alarms += cell.verdict != "unchanged"
    assert alarms / 500 <= 0.05


def test_a_drop_of_three_standard_errors_is_flagged_at_least_90_percent_of_the_time() -> None:
    rng = np.random.default_rng(99)
    flagged = 0
    for trial in range(200):
        baseline, noise_only = _simulated_pair(rng, 100, 0.0)
        # the standard error a report shows beside the baseline's value
        standard_error = float(baseline.std(ddof=1)) / np.sqrt(100)
        current = noise_only - 3 * standard_error
        [cell] = adjust_and_decide([_cell_seeded(baseline, current, trial)], {})
        flagged += cell.verdict == "regressed"
    assert flagged / 200 >= 0.9


def test_ten_thousand_paired_samples_compare_and_the_time_is_printed() -> None:
    """The time is a figure (about 0.5 s on an idle laptop; `pytest -s` shows it), not an assertion:
    a busy machine must not fail this test. The bound only catches a hang or a quadratic blow-up."""
    import time

    rng = np.random.default_rng(0)
    baseline, current = _simulated_pair(rng, 10_000, -0.01)
    started = time.perf_counter()
    cell = _cell_seeded(baseline, current, 0)
    elapsed = time.perf_counter() - started
    print(f"10,000 paired samples compared in {elapsed:.2f}s")
    assert cell.samples == 10_000 and cell.ci_low <= cell.delta <= cell.ci_high
    assert elapsed < 120, f"comparing 10,000 paired samples took {elapsed:.0f}s: a hang, not a busy machine"


def _cell_seeded(baseline: np.ndarray, current: np.ndarray, seed: int):
    return compare_cell(
        model="m",
        task="t",
        metric="rouge-1",
        baseline=_scores(baseline),
        current=_scores(current),
        tolerance=0.0,
        binary=False,
        seed=seed,
    )
