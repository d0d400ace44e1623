"""The JSON shapes of reports, comparisons and completion events, as the wire carries them.

`shape` turns a decoded JSON value into its skeleton: every object's keys in their order, every
scalar replaced by its JSON type (`"float"` and `"int"` apart: `0.0` and `0` read differently).
The builders below give the skeleton each reader relies on; the unit test
(tests/unit/test_report_shape.py) and the integration test (tests/integration/test_report_wire.py)
pin the embedded runtime's, the gateway's and the completion event's JSON to them.
`stored_report` and `drift_cell` make small valid reports for tests of their readers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shared.results.models import (
    CellDetails,
    Comparison,
    ComparisonCell,
    Latency,
    MetricValue,
    ModelResult,
    Tokens,
    Verdict,
)
from shared.results.report import Report

__all__ = [
    "stored_report",
    "drift_cell",
    "shape",
    "assert_shape",
    "report_shape",
    "view_shape",
    "pending_view_shape",
    "comparison_shape",
    "cell_shape",
    "completion_shape",
    "RECORD_FIELDS",
]

_JSON_TYPES = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}


def shape(value: Any) -> Any:
    """`value` (decoded JSON) with each scalar replaced by its JSON type's name."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return _JSON_TYPES[type(value)]


def assert_shape(actual: Any, expected: Any) -> None:
    """The same keys, types and list lengths as `expected`, and the keys in the same order."""
    found = shape(actual)
    assert found == expected
    assert json.dumps(found) == json.dumps(expected), "the same keys in another order"


Tasks = Mapping[str, Sequence[str]]
"""Task name -> its metric names, in the report's order."""


def _metric_cell() -> dict[str, str]:
    return {"value": "float", "ciLow": "float", "ciHigh": "float"}


def report_shape(models: Sequence[str], tasks: Tasks, *, shards: Mapping[str, int], drift: Any = None) -> dict[str, Any]:
    """A completed report of the built-in models (no price table: `cost` is null)."""
    skeleton: dict[str, Any] = {
        "benchmarkId": "str",
        "name": "str",
        "suite": "str",
        "status": "str",
        "results": [
            {"model": "str", **{task: dict.fromkeys(metrics, "float") for task, metrics in tasks.items()}} for _ in models
        ],
        "details": [
            {
                "model": "str",
                "task": "str",
                "samples": "int",
                "expectedSamples": "int",
                "errors": "int",
                "errorRate": "float",
                "latencyMs": {"p50": "float", "p95": "float"},
                "tokens": {"prompt": "int", "completion": "int"},
                "cost": "null",
                "metrics": {metric: _metric_cell() for metric in metrics},
            }
            for _ in models
            for metrics in tasks.values()
        ],
        "tasks": [
            {
                "name": "str",
                "type": "str",
                "dataset": "str",
                "datasetDigest": "str",
                "samples": "int",
                "metrics": ["str"] * len(metrics),
                "stemming": "bool",
                "shardSizes": ["int"] * shards[task],
            }
            for task, metrics in tasks.items()
        ],
    }
    if drift is not None:
        skeleton["drift"] = drift
    return skeleton


RECORD_FIELDS = {
    "trigger": "str",
    "models": None,  # filled in: one "str" per model
    "requestedBy": "str",
    "triggerDetail": "null",
    "deployment": "null",
    "createdAt": "str",
    "updatedAt": "str",
    "reason": "null",
}
"""What GET /v1/benchmarks/{id} adds after the report: the record's summary, then verdict and progress."""


def _record_fields(models: Sequence[str], overrides: Mapping[str, str]) -> dict[str, Any]:
    return {**RECORD_FIELDS, "models": ["str"] * len(models), **overrides}


def view_shape(report: dict[str, Any], models: Sequence[str], **overrides: str) -> dict[str, Any]:
    """GET /v1/benchmarks/{id} of a completed benchmark: its report, then the record's fields."""
    return {**report, **_record_fields(models, overrides), "verdict": "str", "progress": {"scored": "int", "expected": "int"}}


def pending_view_shape(models: Sequence[str], *, planned: bool = False, **overrides: str) -> dict[str, Any]:
    """GET /v1/benchmarks/{id} before a report exists (pending, running or failed)."""
    return {
        "benchmarkId": "str",
        "name": "str",
        "suite": "str",
        "status": "str",
        "results": [],
        **_record_fields(models, overrides),
        "verdict": overrides.get("verdict", "null"),
        "progress": {"scored": "int", "expected": "int" if planned else "null"},
    }


def cell_shape(worst: int, *, mde: str = "float") -> dict[str, Any]:
    """One compared model x task x metric; `worst` samples listed; `mde` null when infinite (one pair)."""
    return {
        "model": "str",
        "task": "str",
        "metric": "str",
        "samples": "int",
        "baseline": "float",
        "current": "float",
        "delta": "float",
        "ciLow": "float",
        "ciHigh": "float",
        "pValue": "float",
        "pAdjusted": "float",
        "minimumDetectableEffect": mde,
        "tolerance": "float",
        "test": "str",
        "verdict": "str",
        "worst": [{"sampleId": "str", "delta": "float"}] * worst,
    }


def comparison_shape(comparison: dict[str, Any], refused: Sequence[str], *, mde: str = "float") -> dict[str, Any]:
    """A comparison (GET .../compare, a report's `drift`): as many cells as `comparison` has, each
    with as many worst samples; `refused` gives each refusal's `task` type ("str" or "null")."""
    return {
        "benchmarkId": "str",
        "against": dict.fromkeys(comparison["against"], "str"),
        "regressed": "bool",
        "cells": [cell_shape(len(cell["worst"]), mde=mde) for cell in comparison["cells"]],
        "refused": [{"model": "str", "task": task, "reason": "str"} for task in refused],
    }


def completion_shape(results: list[Any], *, drift: Any = "null", **overrides: str) -> dict[str, Any]:
    """A BenchmarkCompleted on benchmarks.completed: `results` and `drift` as the report's."""
    return {
        "schemaVersion": "int",
        "tenant": "str",
        "benchmarkId": "str",
        "name": "str",
        "suite": "str",
        "status": "str",
        "verdict": "str",
        "reason": "null",
        "trigger": "str",
        "requestedBy": "null",
        "deployment": "null",
        **overrides,
        "results": results,
        "drift": drift,
        "completedAt": "str",
    }


def drift_cell(
    verdict: Verdict = "unchanged",
    *,
    model: str = "m",
    task: str = "qa",
    metric: str = "f1-score",
    baseline: float = 80.0,
    current: float = 80.0,
    p_adjusted: float = 0.5,
) -> ComparisonCell:
    """A compared cell (the other figures made up, consistent enough for readers)."""
    delta = current - baseline
    return ComparisonCell(
        model=model,
        task=task,
        metric=metric,
        samples=10,
        baseline=baseline,
        current=current,
        delta=delta,
        ci_low=delta - 1.0,
        ci_high=delta + 1.0,
        p_value=p_adjusted,
        p_adjusted=p_adjusted,
        minimum_detectable_effect=1.0,
        tolerance=0.0,
        test="paired-bootstrap",
        verdict=verdict,
        worst=[],
    )


def stored_report(
    benchmark_id: str,
    values: Mapping[str, Mapping[str, Mapping[str, float]]],
    *,
    suite: str = "nightly",
    samples: int = 10,
    errors: int = 0,
    drift: Sequence[ComparisonCell] | None = None,
) -> dict[str, Any]:
    """A completed report as a store keeps it: `values` is model -> task -> metric -> value, each
    model x task of `samples` samples with `errors` errors; `drift` its cells when compared."""
    results = [ModelResult.of(model, tasks) for model, tasks in values.items()]
    details = [
        CellDetails(
            model=model,
            task=task,
            samples=samples,
            expected_samples=samples,
            errors=errors,
            error_rate=errors / samples,
            latency_ms=Latency(p50=120.0, p95=150.0),
            tokens=Tokens(prompt=0, completion=0),
            cost=None,
            metrics={metric: MetricValue(value=value, ci_low=value, ci_high=value) for metric, value in metrics.items()},
        )
        for model, tasks in values.items()
        for task, metrics in tasks.items()
    ]
    comparison = None
    if drift is not None:
        comparison = Comparison(
            benchmark_id=benchmark_id,
            against=dict.fromkeys(values, "bm_baseline"),
            regressed=any(cell.verdict == "regressed" for cell in drift),
            cells=list(drift),
            refused=[],
        )
    report = Report(
        benchmark_id=benchmark_id,
        name="n",
        suite=suite,
        status="completed",
        results=results,
        details=details,
        tasks=[],
        drift=comparison,
    )
    return report.to_json()
