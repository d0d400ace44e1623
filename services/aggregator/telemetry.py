"""The aggregator's Prometheus metrics (DESIGN.md, "Prometheus"), on an explicit registry.
(Model request latency is the runner's: services/runner/telemetry.py.)

Gauges describe each suite's latest completed benchmark, so they are rebuilt from the store at
start-up and any aggregator replica tells the truth. Labels are bounded: suite, model, task,
metric, status, outcome; never a benchmark or sample id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.aggregator.store import BenchmarkRecord

__all__ = ["AggregatorTelemetry", "CELL_LABELS"]

CELL_LABELS = ("suite", "model", "task", "metric")


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
            "benchmark_last_completed_timestamp_seconds", "When the suite's latest benchmark completed",
            ("suite", "model"), registry=r,
        )
        self.benchmarks = Counter("benchmarks_total", "Benchmarks finished, by status", ("status",), registry=r)
        self.samples = Counter("benchmark_samples_total", "Samples scored, by outcome", ("outcome",), registry=r)
        self._shown: dict[str, dict[Gauge, set[tuple[str, ...]]]] = {}
        """suite -> the label values each gauge was last set for, so a cell the latest run no
        longer has (a metric dropped, no baseline any more) stops reporting the older run's value"""

    def observe_completion(self, record: BenchmarkRecord) -> None:
        """Count a newly finished benchmark and show it in the gauges."""
        self.benchmarks.labels(status=record.status).inc()
        for cell in (record.report or {}).get("details", []):
            self.samples.labels(outcome="error").inc(cell.get("errors", 0))
            self.samples.labels(outcome="ok").inc(cell.get("samples", 0) - cell.get("errors", 0))
        self.show(record)

    def show(self, record: BenchmarkRecord) -> None:
        """Set the gauges of the record's suite from its report (the latest run wins)."""
        report: dict[str, Any] = record.report or {}
        if record.status != "completed" or not report:
            return
        suite = record.suite
        shown: dict[Gauge, set[tuple[str, ...]]] = defaultdict(set)

        def put(gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
            gauge.labels(*labels).set(value)
            shown[gauge].add(labels)

        for row in report.get("results", []):
            model = row["model"]
            put(self.last_completed, (suite, model), record.updated_at.timestamp())
            for task, metrics in row.items():
                if task == "model" or not isinstance(metrics, dict):
                    continue
                for metric, value in metrics.items():
                    if value is not None:
                        put(self.value, (suite, model, task, metric), value)
        for cell in (report.get("drift") or {}).get("cells", []):
            labels = (suite, cell["model"], cell["task"], cell["metric"])
            put(self.baseline, labels, cell["baseline"])
            put(self.delta, labels, cell["delta"])
            put(self.drift, labels, 1.0 if cell["verdict"] == "regressed" else 0.0)
            put(self.p_value, labels, cell["pAdjusted"])
        for gauge, before in self._shown.get(suite, {}).items():
            for labels in before - shown[gauge]:
                gauge.remove(*labels)
        self._shown[suite] = shown

    def rebuild(self, records: Iterable[BenchmarkRecord]) -> int:
        """Show each suite's latest completed benchmark; `records` newest first. Returns suites shown."""
        seen: set[str] = set()
        for record in records:
            if record.status == "completed" and record.suite not in seen:
                seen.add(record.suite)
                self.show(record)
        return len(seen)
