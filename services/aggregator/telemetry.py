"""The aggregator's Prometheus metrics (DESIGN.md, "Prometheus"), on an explicit registry.
(Model request latency is the runner's: services/runner/telemetry.py.)

Gauges describe each tenant's suites' latest completed benchmark, so they are rebuilt from the
store at start-up and any aggregator replica tells the truth. Every series is scoped by tenant:
two tenants' suites of the same name are two series. Labels are bounded: tenant, suite, model,
task, metric, status, outcome; never a benchmark or sample id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.results.report import report_of
from shared.results.store import BenchmarkRecord

__all__ = ["AggregatorTelemetry", "CELL_LABELS"]

CELL_LABELS = ("tenant", "suite", "model", "task", "metric")


class AggregatorTelemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.value = Gauge("benchmark_metric_value", "Latest value of a metric (mean over samples)", CELL_LABELS, registry=r)
        self.baseline = Gauge("benchmark_metric_baseline", "The suite baseline's value of the metric", CELL_LABELS, registry=r)
        self.delta = Gauge("benchmark_metric_delta", "Latest value minus baseline, over shared samples", CELL_LABELS, registry=r)
        self.drift = Gauge("benchmark_drift_detected", "1 when the latest run significantly regressed", CELL_LABELS, registry=r)
        self.p_value = Gauge("benchmark_drift_p_value", "Adjusted p-value of the latest comparison", CELL_LABELS, registry=r)
        self.last_completed = Gauge(
            "benchmark_last_completed_timestamp_seconds",
            "When the suite's latest benchmark completed",
            ("tenant", "suite", "model"),
            registry=r,
        )
        self.benchmarks = Counter("benchmarks_total", "Benchmarks finished, by status", ("tenant", "status"), registry=r)
        self.samples = Counter("benchmark_samples_total", "Samples scored, by outcome", ("tenant", "outcome"), registry=r)
        self._shown: dict[tuple[str, str], dict[Gauge, set[tuple[str, ...]]]] = {}
        """(tenant, suite) -> the label values each gauge was last set for, so a cell the latest
        run no longer has (a metric dropped, no baseline any more) stops reporting the older run's value"""

    def observe_completion(self, record: BenchmarkRecord) -> None:
        """Count a newly finished benchmark and show it in the gauges."""
        self.benchmarks.labels(tenant=record.tenant, status=record.status).inc()
        report = report_of(record)
        for cell in report.details if report is not None else []:
            self.samples.labels(tenant=record.tenant, outcome="error").inc(cell.errors)
            self.samples.labels(tenant=record.tenant, outcome="ok").inc(cell.samples - cell.errors)
        self.show(record)

    def observe_failure(self, tenant: str) -> None:
        """Count a benchmark of `tenant` that failed (it shows in no gauge)."""
        self.benchmarks.labels(tenant=tenant, status="failed").inc()

    def show(self, record: BenchmarkRecord) -> None:
        """Set the gauges of the record's suite (in its tenant) from its report (the latest run wins)."""
        report = report_of(record)
        if record.status != "completed" or report is None:
            return
        scope = (record.tenant, record.suite)
        shown: dict[Gauge, set[tuple[str, ...]]] = defaultdict(set)

        def put(gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
            gauge.labels(*scope, *labels).set(value)
            shown[gauge].add((*scope, *labels))

        for row in report.results:
            put(self.last_completed, (row.model,), record.updated_at.timestamp())
            for task, metrics in row.tasks.items():
                for metric, value in metrics.items():
                    if value is not None:
                        put(self.value, (row.model, task, metric), value)
        for cell in report.drift.cells if report.drift is not None else []:
            compared = (cell.model, cell.task, cell.metric)
            put(self.baseline, compared, cell.baseline)
            put(self.delta, compared, cell.delta)
            put(self.drift, compared, 1.0 if cell.verdict == "regressed" else 0.0)
            put(self.p_value, compared, cell.p_adjusted)
        for gauge, before in self._shown.get(scope, {}).items():
            for labels in before - shown[gauge]:
                gauge.remove(*labels)
        self._shown[scope] = shown

    def rebuild(self, records: Iterable[BenchmarkRecord]) -> int:
        """Show each tenant's suites' latest completed benchmark; `records` newest first, of any
        tenants. Returns the (tenant, suite) pairs shown."""
        seen: set[tuple[str, str]] = set()
        for record in records:
            scope = (record.tenant, record.suite)
            if record.status == "completed" and scope not in seen:
                seen.add(scope)
                self.show(record)
        return len(seen)
