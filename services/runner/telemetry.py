"""The runner's Prometheus metrics: every model request's latency and outcome, on its own registry.
Every series is scoped by the work item's tenant. Labels are bounded: the tenant, the model's
display name and the outcome, never an id."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.events import ModelOutputs

__all__ = ["RunnerTelemetry"]


class WorkQueue(Protocol):
    """What the runner's work consumer tells about the shards it holds (shared/parallel_consumer.py)."""

    def running_by_tenant(self) -> dict[str, int]: ...

    def waiting_by_tenant(self) -> dict[str, int]: ...


class RunnerTelemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.latency = Histogram(
            "benchmark_model_request_latency_seconds",
            "Model request latency, retries included, per sample",
            ("tenant", "model"),
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.requests = Counter(
            "benchmark_model_requests_total",
            "Samples sent to a model, by outcome (ok, error)",
            ("tenant", "model", "outcome"),
            registry=self.registry,
        )
        self.shards = Counter("benchmark_work_items_total", "Work shards run", ("tenant",), registry=self.registry)

    def watch(self, queue: WorkQueue) -> None:
        """Shards running and waiting per tenant, read when Prometheus scrapes (not kept up to date
        on every change: the queue changes far more often than anyone looks)."""
        self.registry.register(_QueueCollector(queue.running_by_tenant, queue.waiting_by_tenant))

    def observe(self, outputs: ModelOutputs) -> None:
        """Count a shard the runner ran (its outputs carry the work item's tenant)."""
        tenant, model = outputs.tenant, outputs.model
        self.shards.labels(tenant=tenant).inc()
        for output in outputs.outputs:
            self.latency.labels(tenant=tenant, model=model).observe(output.latency_ms / 1000)
            self.requests.labels(tenant=tenant, model=model, outcome="error" if output.error else "ok").inc()


class _QueueCollector(Collector):
    def __init__(self, running: Callable[[], dict[str, int]], waiting: Callable[[], dict[str, int]]) -> None:
        self._running = running
        self._waiting = waiting

    def collect(self) -> Iterator[Metric]:
        for name, text, read in (
            ("benchmark_runner_shards_running", "Work shards this runner is running now", self._running),
            ("benchmark_runner_shards_waiting", "Work shards this runner holds in its fair queue, not started", self._waiting),
        ):
            family = GaugeMetricFamily(name, text, labels=("tenant",))
            for tenant, count in sorted(read().items()):
                family.add_metric((tenant,), count)
            yield family
