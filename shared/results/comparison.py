"""Comparing a benchmark with a baseline (or any other run), cell by cell, and saying when not.

A comparison is valid only on the same dataset digest and the same metric configuration; cells
that differ are refused with the reason, the rest are compared with shared.results.drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shared.metrics.registry import METRICS
from shared.results.drift import CellComparison, Cells, adjust_and_decide, compare_cell, is_binary
from shared.results.models import Comparison, Refusal
from shared.results.report import ScoredSample
from shared.results.store import BenchmarkRecord

__all__ = ["Run", "compare_runs", "decide_cells", "sample_values"]

Run = tuple[BenchmarkRecord, Cells]
"""A run and its per-sample scores."""


def sample_values(scored: Iterable[ScoredSample], into: Cells | None = None) -> Cells:
    """The rows' scores by cell and sample id, added to `into` (a batch at a time) or to new cells."""
    cells: Cells = {} if into is None else into
    for row in scored:
        for metric, value in row.score.scores.items():
            cells.setdefault((row.model, row.task, metric), {})[row.score.sample_id] = value
    return cells


def compare_runs(
    current: Run,
    baselines: Mapping[str, Run],
    *,
    tolerance: float | None = None,
    tolerances: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Comparison:
    """Compare every model of `current` with the run `baselines` names for it. The tolerance of a
    metric is `tolerance` if given, else the suite's `tolerances` for it, else 0."""
    record, now = current
    if record.plan is None:
        raise ValueError(f"{record.benchmark_id} has no plan yet: nothing to compare")
    keys: list[tuple[str, str, str]] = []
    refused: list[Refusal] = []
    before: Cells = {}
    for model in record.plan.models:
        if model not in baselines:
            refused.append(Refusal(model=model, task=None, reason="no baseline for this model"))
            continue
        base_record, base_values = baselines[model]
        base_tasks = {task.name: task for task in (base_record.plan.tasks if base_record.plan else [])}
        for task in record.plan.tasks:
            reason = _why_not_comparable(task, base_tasks.get(task.name), base_record.benchmark_id)
            if reason:
                refused.append(Refusal(model=model, task=task.name, reason=reason))
                continue
            for metric in task.metrics:
                key = (model, task.name, metric)
                before[key] = base_values.get(key, {})
                keys.append(key)
    decided = decide_cells(
        before,
        now,
        keys,
        tolerance_of=lambda metric: tolerance if tolerance is not None else (tolerances or {}).get(metric, 0.0),
        seed=seed,
    )
    return Comparison(
        benchmark_id=record.benchmark_id,
        against={model: run[0].benchmark_id for model, run in baselines.items() if model in record.plan.models},
        regressed=any(cell.verdict == "regressed" for cell in decided),
        cells=[cell.to_model() for cell in decided],
        refused=refused,
    )


def decide_cells(
    before: Cells, after: Cells, keys: Iterable[tuple[str, str, str]], *, tolerance_of: Callable[[str], float], seed: int
) -> list[CellComparison]:
    """Compare the (model, task, metric) cells `keys` of two runs, sample by sample, and decide
    them together (one false-discovery correction across all of them)."""
    cells = [
        compare_cell(
            model=model,
            task=task,
            metric=metric,
            baseline=before[(model, task, metric)],
            current=after.get((model, task, metric), {}),
            tolerance=tolerance_of(metric),
            seed=seed,
            # right-or-wrong scores get an exact McNemar test
            binary=is_binary([*before[(model, task, metric)].values(), *after.get((model, task, metric), {}).values()]),
        )
        for model, task, metric in keys
    ]
    return adjust_and_decide(cells, {name: metric.higher_is_better for name, metric in METRICS.items()})


def _why_not_comparable(task: Any, baseline_task: Any, baseline_id: str) -> str | None:
    if baseline_task is None:
        return f"{baseline_id} has no task {task.name!r}"
    if baseline_task.dataset_digest != task.dataset_digest:
        return (
            f"different data: dataset digest {task.dataset_digest[:19]} here, {baseline_task.dataset_digest[:19]}"
            f" in {baseline_id}"
        )
    if baseline_task.metrics != task.metrics:
        return f"different metrics: {', '.join(task.metrics)} here, {', '.join(baseline_task.metrics)} in {baseline_id}"
    if baseline_task.stemming != task.stemming:
        return f"different metric configuration: stemming {'on' if task.stemming else 'off'} here, not in {baseline_id}"
    return None
