"""The JSON shapes of reports, comparisons and completion events, as the wire carries them.

`shape` turns a decoded JSON value into its skeleton: every object's keys in their order, every
scalar replaced by its JSON type (`"float"` and `"int"` apart: `0.0` and `0` read differently).
The builders below give the skeleton each reader relies on; the unit test
(tests/unit/test_report_shape.py) and the integration test (tests/integration/test_report_wire.py)
pin the embedded runtime's, the gateway's and the completion event's JSON to them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
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
