"""Gauges follow each tenant's suites' latest completed benchmark and are rebuilt from stored
records; every series the aggregator and the runner export is scoped by tenant."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from services.aggregator.telemetry import AggregatorTelemetry
from services.runner.telemetry import RunnerTelemetry
from shared.events import ModelOutputs, SampleOutput
from shared.results.store import BenchmarkRecord
from tests.report_shapes import drift_cell, stored_report

CELL = {"suite": "nightly", "model": "m", "task": "qa", "metric": "f1-score"}


def _record(
    benchmark_id: str, value: float, *, regressed: bool = False, when: int = 1_800_000_000, tenant: str = "default"
) -> BenchmarkRecord:
    cell = drift_cell("regressed" if regressed else "unchanged", current=value, p_adjusted=0.01)
    report = stored_report(benchmark_id, {"m": {"qa": {"f1-score": value}}}, errors=2, drift=[cell])
    moment = datetime.fromtimestamp(when, UTC)
    return BenchmarkRecord(benchmark_id, tenant, "n", "nightly", "completed", "api", moment, moment, {}, None, report, None)


def _outputs(tenant: str, *, error: str | None = None) -> ModelOutputs:
    """A shard of one sample that the runner ran for `tenant`."""
    return ModelOutputs(
        tenant=tenant,
        benchmark_id="bm_1",
        model="m",
        task="qa",
        task_type="qa",
        metrics=["exact-match"],
        shard=0,
        outputs=[SampleOutput(sample_id="s1", prediction="p", references=["p"], latency_ms=250.0, error=error)],
    )


def _sample(telemetry: AggregatorTelemetry | RunnerTelemetry, name: str, **labels: str) -> float | None:
    return telemetry.registry.get_sample_value(name, labels)


def test_completion_sets_gauges_and_counts() -> None:
    telemetry = AggregatorTelemetry()
    telemetry.observe_completion(_record("bm_1", 70.0, regressed=True))
    cell = {"tenant": "default", **CELL}
    assert _sample(telemetry, "benchmark_metric_value", **cell) == 70.0
    assert _sample(telemetry, "benchmark_metric_baseline", **cell) == 80.0
    assert _sample(telemetry, "benchmark_metric_delta", **cell) == -10.0
    assert _sample(telemetry, "benchmark_drift_detected", **cell) == 1.0
    assert _sample(telemetry, "benchmark_drift_p_value", **cell) == 0.01
    assert (
        _sample(telemetry, "benchmark_last_completed_timestamp_seconds", tenant="default", suite="nightly", model="m")
        == 1_800_000_000
    )
    assert _sample(telemetry, "benchmarks_total", tenant="default", status="completed") == 1
    assert _sample(telemetry, "benchmark_samples_total", tenant="default", outcome="error") == 2
    assert b"bm_1" not in generate_latest(telemetry.registry)  # no ids in labels


def test_rebuild_shows_each_suites_latest_run() -> None:
    telemetry = AggregatorTelemetry()
    newest_first = [_record("bm_new", 82.0, when=1_800_000_100), _record("bm_old", 60.0, regressed=True)]
    assert telemetry.rebuild(newest_first) == 1
    cell = {"tenant": "default", **CELL}
    assert _sample(telemetry, "benchmark_metric_value", **cell) == 82.0
    assert _sample(telemetry, "benchmark_drift_detected", **cell) == 0.0
    assert _sample(telemetry, "benchmarks_total", tenant="default", status="completed") is None  # rebuilding counts nothing


def test_a_cell_the_latest_run_no_longer_has_stops_reporting() -> None:
    telemetry = AggregatorTelemetry()
    telemetry.observe_completion(_record("bm_1", 70.0, regressed=True))
    without_drift = _record("bm_2", 75.0, when=1_800_000_100)
    without_drift.report["drift"] = None  # e.g. the suite's baseline was removed
    telemetry.observe_completion(without_drift)
    cell = {"tenant": "default", **CELL}
    assert _sample(telemetry, "benchmark_metric_value", **cell) == 75.0
    for name in ("benchmark_drift_detected", "benchmark_metric_baseline", "benchmark_metric_delta", "benchmark_drift_p_value"):
        assert _sample(telemetry, name, **cell) is None, name  # not bm_1's stale regression


def test_two_tenants_same_named_suites_are_two_series() -> None:
    telemetry = AggregatorTelemetry()
    telemetry.observe_completion(_record("bm_a", 70.0, regressed=True, tenant="acme"))
    telemetry.observe_completion(_record("bm_b", 90.0, tenant="globex", when=1_800_000_100))
    assert _sample(telemetry, "benchmark_metric_value", tenant="acme", **CELL) == 70.0
    assert _sample(telemetry, "benchmark_metric_value", tenant="globex", **CELL) == 90.0
    assert _sample(telemetry, "benchmark_drift_detected", tenant="acme", **CELL) == 1.0
    assert _sample(telemetry, "benchmark_drift_detected", tenant="globex", **CELL) == 0.0
    assert (
        _sample(telemetry, "benchmark_last_completed_timestamp_seconds", tenant="globex", suite="nightly", model="m")
        == 1_800_000_100
    )
    assert _sample(telemetry, "benchmarks_total", tenant="acme", status="completed") == 1
    assert _sample(telemetry, "benchmarks_total", tenant="globex", status="completed") == 1
    values = [
        line for line in generate_latest(telemetry.registry).decode().splitlines() if line.startswith("benchmark_metric_value{")
    ]
    assert len(values) == 2

    # one tenant's latest run without drift clears that tenant's drift cells, not the other's
    without_drift = _record("bm_b2", 91.0, tenant="globex", when=1_800_000_200)
    without_drift.report["drift"] = None
    telemetry.observe_completion(without_drift)
    assert _sample(telemetry, "benchmark_drift_detected", tenant="globex", **CELL) is None
    assert _sample(telemetry, "benchmark_drift_detected", tenant="acme", **CELL) == 1.0


def test_rebuild_keeps_each_tenants_latest_run_of_a_suite() -> None:
    telemetry = AggregatorTelemetry()
    newest_first = [
        _record("bm_g2", 85.0, tenant="globex", when=1_800_000_300),
        _record("bm_a2", 65.0, tenant="acme", regressed=True, when=1_800_000_200),
        _record("bm_g1", 50.0, tenant="globex", regressed=True, when=1_800_000_100),
        _record("bm_a1", 99.0, tenant="acme"),
    ]
    assert telemetry.rebuild(newest_first) == 2
    assert _sample(telemetry, "benchmark_metric_value", tenant="globex", **CELL) == 85.0
    assert _sample(telemetry, "benchmark_drift_detected", tenant="globex", **CELL) == 0.0
    assert _sample(telemetry, "benchmark_metric_value", tenant="acme", **CELL) == 65.0
    assert _sample(telemetry, "benchmark_drift_detected", tenant="acme", **CELL) == 1.0


def test_failures_are_counted_per_tenant() -> None:
    telemetry = AggregatorTelemetry()
    telemetry.observe_failure("acme")
    telemetry.observe_failure("acme")
    telemetry.observe_failure("globex")
    assert _sample(telemetry, "benchmarks_total", tenant="acme", status="failed") == 2
    assert _sample(telemetry, "benchmarks_total", tenant="globex", status="failed") == 1


def test_runner_series_carry_the_work_items_tenant() -> None:
    telemetry = RunnerTelemetry()
    for tenant, error in (("acme", None), ("globex", "TimeoutError: slow")):
        telemetry.observe(_outputs(tenant, error=error))
    assert _sample(telemetry, "benchmark_model_requests_total", tenant="acme", model="m", outcome="ok") == 1
    assert _sample(telemetry, "benchmark_model_requests_total", tenant="globex", model="m", outcome="error") == 1
    assert _sample(telemetry, "benchmark_model_requests_total", tenant="acme", model="m", outcome="error") is None
    assert _sample(telemetry, "benchmark_model_request_latency_seconds_count", tenant="globex", model="m") == 1
    assert _sample(telemetry, "benchmark_work_items_total", tenant="acme") == 1
    assert b"bm_1" not in generate_latest(telemetry.registry)


def test_every_aggregator_and_runner_series_names_its_tenant() -> None:
    aggregator, runner = AggregatorTelemetry(), RunnerTelemetry()
    aggregator.observe_completion(_record("bm_1", 70.0, regressed=True, tenant="acme"))
    aggregator.observe_failure("acme")
    runner.observe(_outputs("acme"))
    for registry in (aggregator.registry, runner.registry):
        series = [line for line in generate_latest(registry).decode().splitlines() if line and not line.startswith("#")]
        assert series and all('tenant="acme"' in line for line in series), series
