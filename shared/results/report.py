"""The aggregate stage: a plan and every per-sample score -> the comparative report.

The report's fixed shape (DESIGN.md): `benchmarkId`, `name`, `status`, and `results`, one row per
model with a `{metric: mean}` map under each task name. Beside it, for readers who want more:
`details` (per model x task: confidence intervals, errors, latency, tokens) and `tasks`
(dataset, digest and sample count per task), and `drift` once compared with a baseline.
`Report` is that shape as a model (its parts: shared/results/models.py); `build_report` is the
one place it is made.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from shared.events import BenchmarkPlanned, SampleScore, Status, TaskPlan
from shared.metrics.aggregation import aggregate_with_ci
from shared.metrics.registry import get_metric
from shared.results.models import CellDetails, Comparison, Latency, MetricValue, ModelResult, ReportPart, Tokens, absent
from shared.statistics import percentile

if TYPE_CHECKING:
    from shared.results.store import BenchmarkRecord

__all__ = ["Report", "ScoredSample", "build_report", "report_of"]


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


def build_report(
    plan: BenchmarkPlanned,
    scored: Iterable[ScoredSample],
    *,
    status: Status,
    bootstrap_seed: int = 0,
    bootstrap_resamples: int = 1000,
) -> Report:
    by_cell: dict[tuple[str, str], list[SampleScore]] = defaultdict(list)
    for row in scored:
        by_cell[(row.model, row.task)].append(row.score)

    results: list[ModelResult] = []
    details: list[CellDetails] = []
    for model in plan.models:
        values: dict[str, dict[str, float | None]] = {}
        for task in plan.tasks:
            samples = sorted(by_cell.get((model, task.name), []), key=lambda s: s.sample_id)
            metrics: dict[str, MetricValue] = {}
            for name in task.metrics:
                scored_samples = [s for s in samples if name in s.scores]
                ci = aggregate_with_ci(  # the sample mean, or the metric's corpus statistic (BLEU)
                    get_metric(name),
                    [s.scores[name] for s in scored_samples],
                    [s.details.get(name, {}) for s in scored_samples],
                    seed=bootstrap_seed,
                    resamples=bootstrap_resamples,
                )
                metrics[name] = MetricValue(value=ci.mean, ci_low=ci.ci_low, ci_high=ci.ci_high)
            values[task.name] = {name: stats.value for name, stats in metrics.items()}
            details.append(_cell_details(model, task.name, task.samples, samples, metrics))
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
    model: str, task: str, expected: int, samples: list[SampleScore], metrics: dict[str, MetricValue]
) -> CellDetails:
    errors = sum(1 for s in samples if s.error)
    latencies = [s.latency_ms for s in samples if not s.error]
    return CellDetails(
        model=model,
        task=task,
        samples=len(samples),
        expected_samples=expected,
        errors=errors,
        error_rate=errors / len(samples) if samples else 0.0,
        latency_ms=Latency(p50=percentile(latencies, 50), p95=percentile(latencies, 95)),
        tokens=Tokens(
            prompt=sum(s.prompt_tokens or 0 for s in samples),
            completion=sum(s.completion_tokens or 0 for s in samples),
        ),
        # None unless the model config has a price table; errored samples cost nothing
        cost=sum(s.cost for s in samples if s.cost is not None) if any(s.cost is not None for s in samples) else None,
        metrics=metrics,
    )
