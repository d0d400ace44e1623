"""Gauges follow each suite's latest completed benchmark and are rebuilt from stored records."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from services.aggregator.store import BenchmarkRecord
from services.aggregator.telemetry import AggregatorTelemetry


def _record(benchmark_id: str, value: float, *, regressed: bool = False, when: int = 1_800_000_000) -> BenchmarkRecord:
    report = {
        "results": [{"model": "m", "qa": {"f1-score": value}}],
        "details": [{"model": "m", "task": "qa", "samples": 10, "errors": 2, "latencyMs": {"p50": 120.0}}],
        "drift": {"cells": [{"model": "m", "task": "qa", "metric": "f1-score", "baseline": 80.0, "delta": value - 80.0,
                             "pAdjusted": 0.01, "verdict": "regressed" if regressed else "unchanged"}]},
    }
    moment = datetime.fromtimestamp(when, UTC)
    return BenchmarkRecord(benchmark_id, "default", "n", "nightly", "completed", "api", moment, moment, {}, None, report, None)


def _sample(telemetry: AggregatorTelemetry, name: str, **labels: str) -> float | None:
    return telemetry.registry.get_sample_value(name, labels)


def test_completion_sets_gauges_and_counts() -> None:
    telemetry = AggregatorTelemetry()
    telemetry.observe_completion(_record("bm_1", 70.0, regressed=True))
    cell = {"suite": "nightly", "model": "m", "task": "qa", "metric": "f1-score"}
    assert _sample(telemetry, "benchmark_metric_value", **cell) == 70.0
    assert _sample(telemetry, "benchmark_metric_baseline", **cell) == 80.0
    assert _sample(telemetry, "benchmark_metric_delta", **cell) == -10.0
    assert _sample(telemetry, "benchmark_drift_detected", **cell) == 1.0
    assert _sample(telemetry, "benchmark_drift_p_value", **cell) == 0.01
    assert _sample(telemetry, "benchmark_last_completed_timestamp_seconds", suite="nightly", model="m") == 1_800_000_000
    assert _sample(telemetry, "benchmarks_total", status="completed") == 1
    assert _sample(telemetry, "benchmark_samples_total", outcome="error") == 2
    assert b"bm_1" not in generate_latest(telemetry.registry)  # no ids in labels


def test_rebuild_shows_each_suites_latest_run() -> None:
    telemetry = AggregatorTelemetry()
    newest_first = [_record("bm_new", 82.0, when=1_800_000_100), _record("bm_old", 60.0, regressed=True)]
    assert telemetry.rebuild(newest_first) == 1
    cell = {"suite": "nightly", "model": "m", "task": "qa", "metric": "f1-score"}
    assert _sample(telemetry, "benchmark_metric_value", **cell) == 82.0
    assert _sample(telemetry, "benchmark_drift_detected", **cell) == 0.0
    assert _sample(telemetry, "benchmarks_total", status="completed") is None  # rebuilding counts nothing


def test_a_cell_the_latest_run_no_longer_has_stops_reporting() -> None:
    telemetry = AggregatorTelemetry()
    telemetry.observe_completion(_record("bm_1", 70.0, regressed=True))
    without_drift = _record("bm_2", 75.0, when=1_800_000_100)
    without_drift.report["drift"] = None  # e.g. the suite's baseline was removed
    telemetry.observe_completion(without_drift)
    cell = {"suite": "nightly", "model": "m", "task": "qa", "metric": "f1-score"}
    assert _sample(telemetry, "benchmark_metric_value", **cell) == 75.0
    for name in ("benchmark_drift_detected", "benchmark_metric_baseline", "benchmark_metric_delta", "benchmark_drift_p_value"):
        assert _sample(telemetry, name, **cell) is None, name  # not bm_1's stale regression
