"""The aggregate stage: a plan and every per-sample score -> the comparative report.

The report's fixed shape (DESIGN.md): `benchmarkId`, `name`, `status`, and `results`, one row per
model with a `{metric: mean}` map under each task name. Beside it, for readers who want more:
`details` (per model x task: confidence intervals, errors, latency, tokens) and `tasks`
(dataset, digest and sample count per task).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.statistics import percentile
from shared.metrics.aggregation import aggregate_with_ci
from shared.metrics.registry import get_metric
from shared.events import BenchmarkPlanned, SampleScore

__all__ = ["ScoredSample", "build_report"]


@dataclass(frozen=True, slots=True)
class ScoredSample:
    model: str
    task: str
    score: SampleScore


def build_report(
    plan: BenchmarkPlanned,
    scored: Iterable[ScoredSample],
    *,
    status: str,
    bootstrap_seed: int = 0,
    bootstrap_resamples: int = 1000,
) -> dict[str, Any]:
    by_cell: dict[tuple[str, str], list[SampleScore]] = defaultdict(list)
    for row in scored:
        by_cell[(row.model, row.task)].append(row.score)

    results: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    for model in plan.models:
        row: dict[str, Any] = {"model": model}
        for task in plan.tasks:
            samples = sorted(by_cell.get((model, task.name), []), key=lambda s: s.sample_id)
            metrics = {}
            for name in task.metrics:
                scored_samples = [s for s in samples if name in s.scores]
                ci = aggregate_with_ci(  # the sample mean, or the metric's corpus statistic (BLEU)
                    get_metric(name),
                    [s.scores[name] for s in scored_samples],
                    [s.details.get(name, {}) for s in scored_samples],
                    seed=bootstrap_seed,
                    resamples=bootstrap_resamples,
                )
                metrics[name] = {"value": ci.mean, "ciLow": ci.ci_low, "ciHigh": ci.ci_high}
            row[task.name] = {name: stats["value"] for name, stats in metrics.items()}
            details.append(_cell_details(model, task.name, task.samples, samples, metrics))
        results.append(row)

    return {
        "benchmarkId": plan.benchmark_id,
        "name": plan.name,
        "suite": plan.suite,
        "status": status,
        "results": results,
        "details": details,
        "tasks": [task.model_dump(by_alias=True) for task in plan.tasks],
    }


def _cell_details(
    model: str, task: str, expected: int, samples: list[SampleScore], metrics: dict[str, dict[str, float]]
) -> dict[str, Any]:
    errors = sum(1 for s in samples if s.error)
    latencies = [s.latency_ms for s in samples if not s.error]
    return {
        "model": model,
        "task": task,
        "samples": len(samples),
        "expectedSamples": expected,
        "errors": errors,
        "errorRate": errors / len(samples) if samples else 0.0,
        "latencyMs": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        "tokens": {
            "prompt": sum(s.prompt_tokens or 0 for s in samples),
            "completion": sum(s.completion_tokens or 0 for s in samples),
        },
        # None unless the model config has a price table; errored samples cost nothing
        "cost": sum(s.cost for s in samples if s.cost is not None) if any(s.cost is not None for s in samples) else None,
        "metrics": metrics,
    }
