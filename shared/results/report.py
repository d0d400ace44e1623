"""The aggregate stage: a plan and every per-sample score -> the comparative report.

The report's fixed shape (DESIGN.md): `benchmarkId`, `name`, `status`, and `results`, one row per
model with a `{metric: mean}` map under each task name. Beside it, for readers who want more:
`details` (per model x task: confidence intervals, errors, latency, tokens) and `tasks`
(dataset, digest and sample count per task), and `drift` once compared with a baseline.
`Report` is that shape as a model (its parts: shared/results/models.py); `build_report` is the
one place it is made.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from shared.events import BenchmarkPlanned, SampleScore, Status, TaskPlan
from shared.metrics.aggregation import corpus_stats_with_ci
from shared.metrics.registry import get_metric
from shared.results.models import CellDetails, Comparison, Latency, MetricValue, ModelResult, ReportPart, Tokens, absent
from shared.statistics import mean_with_ci, percentile

if TYPE_CHECKING:
    from shared.results.store import BenchmarkRecord

__all__ = ["CellSamples", "PlanSamples", "Report", "ScoredSample", "build_report", "report_from", "report_of"]


class Report(ReportPart):
    """A benchmark's comparative report, as stored when it completes and as the API shows it."""

    benchmark_id: str
    name: str
    suite: str
    status: Status
    results: list[ModelResult]
    """One row per model, in the spec's order: the seed's shape."""
    details: list[CellDetails]
    """One entry per model x task, models in the spec's order, then tasks."""
    tasks: list[TaskPlan]
    drift: Comparison | None = Field(default=None, exclude_if=absent)
    """The comparison with the suite's baseline; absent when the suite had none."""


def report_of(record: BenchmarkRecord) -> Report | None:
    """The record's stored report as a model (None until the benchmark completes)."""
    return Report.model_validate(record.report) if record.report is not None else None


@dataclass(frozen=True, slots=True)
class ScoredSample:
    model: str
    task: str
    score: SampleScore


class _Column:
    """One figure of the samples that have it: which samples (rows, in arrival order) and the
    values, as flat arrays of machine numbers rather than a Python object per sample."""

    __slots__ = ("rows", "values")

    def __init__(self) -> None:
        self.rows = array("q")
        self.values = array("d")

    def add(self, row: int, *values: float) -> None:
        self.rows.append(row)
        self.values.extend(values)

    def in_order(self, rank: np.ndarray, width: int = 1) -> np.ndarray:
        """The values in sample id order (`rank`: each row's place in it), one line of `width` per sample."""
        values = np.frombuffer(self.values, dtype=float).reshape(-1, width)
        ordered = values[np.argsort(rank[np.frombuffer(self.rows, dtype=np.int64)], kind="stable")]
        return ordered[:, 0] if width == 1 else ordered


class CellSamples:
    """A model x task's per-sample figures, kept compactly as the scores stream in: just what the
    report's aggregates need (ids for their order, metric values or a corpus metric's sufficient
    statistics, latency, cost, errors; token sums as they come)."""

    def __init__(self, metrics: Sequence[str]) -> None:
        self.ids: list[str] = []
        self.metrics = {name: get_metric(name) for name in metrics}
        self.columns = {name: _Column() for name in metrics}
        self.latency = _Column()
        """Of the samples without an error."""
        self.cost = _Column()
        self.errors = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def add(self, score: SampleScore) -> None:
        row = len(self.ids)
        for name, metric in self.metrics.items():
            if name not in score.scores:
                continue
            if metric.corpus is None:
                self.columns[name].add(row, score.scores[name])
                continue
            details = score.details.get(name, {})
            try:  # the sample's own value too, for a comparison sample by sample
                self.columns[name].add(row, score.scores[name], *(float(details[field]) for field in metric.corpus.fields))
            except KeyError as exc:
                raise ValueError(f"a sample lacks the sufficient statistic {exc.args[0]!r} of a corpus metric") from None
        self.ids.append(score.sample_id)
        if score.error:
            self.errors += 1
        else:
            self.latency.add(row, score.latency_ms)
        if score.cost is not None:
            self.cost.add(row, score.cost)
        self.prompt_tokens += score.prompt_tokens or 0
        self.completion_tokens += score.completion_tokens or 0

    def rank(self) -> np.ndarray:
        """Each row's place in sample id order (the order the aggregates take samples in)."""
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        return rank


class PlanSamples:
    """Every cell of a plan's report, filled score by score (a batch at a time from the store).
    Scores of a model or task the plan does not have are not kept: the report has no place for them."""

    def __init__(self, plan: BenchmarkPlanned) -> None:
        self.plan = plan
        self.cells = {(model, task.name): CellSamples(task.metrics) for model in plan.models for task in plan.tasks}
        self.added = 0
        """Scores given to `add`, kept or not."""

    def add(self, scored: Iterable[ScoredSample]) -> None:
        for row in scored:
            self.added += 1
            cell = self.cells.get((row.model, row.task))
            if cell is not None:
                cell.add(row.score)

    def values(self) -> dict[tuple[str, str, str], dict[str, float]]:
        """(model, task, metric) -> sample id -> score, for a comparison with another run."""
        found: dict[tuple[str, str, str], dict[str, float]] = {}
        for (model, task), cell in self.cells.items():
            for name, column in cell.columns.items():
                width = len(column.values) // len(column.rows) if column.rows else 1
                found[(model, task, name)] = {cell.ids[row]: column.values[i * width] for i, row in enumerate(column.rows)}
        return found


def build_report(
    plan: BenchmarkPlanned,
    scored: Iterable[ScoredSample],
    *,
    status: Status,
    bootstrap_seed: int = 0,
    bootstrap_resamples: int = 1000,
) -> Report:
    samples = PlanSamples(plan)
    samples.add(scored)
    return report_from(samples, status=status, bootstrap_seed=bootstrap_seed, bootstrap_resamples=bootstrap_resamples)


def report_from(samples: PlanSamples, *, status: Status, bootstrap_seed: int = 0, bootstrap_resamples: int = 1000) -> Report:
    """The report of a plan's collected samples; each cell's samples are taken in sample id order,
    whatever order they came in, so the bootstrap draws the same figures."""
    plan = samples.plan
    results: list[ModelResult] = []
    details: list[CellDetails] = []
    for model in plan.models:
        values: dict[str, dict[str, float | None]] = {}
        for task in plan.tasks:
            cell = samples.cells[(model, task.name)]
            rank = cell.rank()
            metrics: dict[str, MetricValue] = {}
            for name, metric in cell.metrics.items():
                if metric.corpus is None:  # the sample mean
                    in_order = cell.columns[name].in_order(rank).tolist()
                    ci = mean_with_ci(in_order, seed=bootstrap_seed, resamples=bootstrap_resamples)
                else:  # the metric's corpus statistic (BLEU)
                    fields = len(metric.corpus.fields)
                    stats = np.ascontiguousarray(cell.columns[name].in_order(rank, width=1 + fields)[:, 1:])
                    ci = corpus_stats_with_ci(metric.corpus, stats, seed=bootstrap_seed, resamples=bootstrap_resamples)
                metrics[name] = MetricValue(value=ci.mean, ci_low=ci.ci_low, ci_high=ci.ci_high)
            values[task.name] = {name: stats.value for name, stats in metrics.items()}
            details.append(_cell_details(model, task.name, task.samples, cell, rank, metrics))
        results.append(ModelResult.of(model, values))

    return Report(
        benchmark_id=plan.benchmark_id,
        name=plan.name,
        suite=plan.suite,
        status=status,
        results=results,
        details=details,
        tasks=plan.tasks,
    )


def _cell_details(
    model: str, task: str, expected: int, cell: CellSamples, rank: np.ndarray, metrics: dict[str, MetricValue]
) -> CellDetails:
    samples = len(cell.ids)
    latencies = cell.latency.in_order(rank).tolist()
    costs = cell.cost.in_order(rank).tolist()
    return CellDetails(
        model=model,
        task=task,
        samples=samples,
        expected_samples=expected,
        errors=cell.errors,
        error_rate=cell.errors / samples if samples else 0.0,
        latency_ms=Latency(p50=percentile(latencies, 50), p95=percentile(latencies, 95)),
        tokens=Tokens(prompt=cell.prompt_tokens, completion=cell.completion_tokens),
        # None unless the model config has a price table; errored samples cost nothing
        cost=sum(costs) if costs else None,
        metrics=metrics,
    )
