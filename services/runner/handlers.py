"""Runner subscribers: thin wrappers that call the plan and run stages and say what to publish."""

from __future__ import annotations

import logging
from pathlib import Path

from services.runner.executor import run_work_item, split_outputs
from services.runner.models import ModelPool
from services.runner.planner import plan_benchmark
from services.runner.telemetry import RunnerTelemetry
from shared import topics
from shared.datasets import check_server_path, fetch_task_dataset
from shared.errors import InvalidInput
from shared.events import BenchmarkPlanned, BenchmarkRequested, WorkItem
from shared.messaging import Outgoing
from shared.settings import Settings
from shared.shards import SLACK_BYTES

__all__ = ["RunnerHandlers"]

log = logging.getLogger(__name__)


class RunnerHandlers:
    def __init__(self, settings: Settings, models: ModelPool, telemetry: RunnerTelemetry | None = None) -> None:
        self._settings = settings
        self._models = models
        self._telemetry = telemetry or RunnerTelemetry()
        """One paced adapter per tenant and model config, shared by every shard this process runs."""

    async def on_benchmark_requested(self, request: BenchmarkRequested) -> list[Outgoing]:
        base_dir = self._settings.data_dir or Path.cwd()
        try:
            for task in request.spec.tasks:  # an event is a stranger's data too: the gateway's rule, again
                if task.dataset.path is not None:
                    check_server_path(task.dataset.path, self._settings.data_dir)
            datasets = {
                task.name: await fetch_task_dataset(task, base_dir=base_dir, outbound=self._settings.outbound_policy)
                for task in request.spec.tasks
            }
            plan, work = plan_benchmark(
                request, datasets, shard_size=self._settings.shard_size, max_message_bytes=self._settings.max_message_bytes
            )
        except InvalidInput as exc:  # e.g. a dataset URL that answered the gateway but not us, a record too large
            failed = BenchmarkPlanned(
                tenant=request.tenant,
                benchmark_id=request.benchmark_id,
                name=request.spec.name,
                suite=request.spec.suite_name,
                models=[m.name for m in request.spec.models],
                tasks=[],
                shards=0,
                error=str(exc),
            )
            return [Outgoing(topics.BENCHMARKS_PLANNED, request.benchmark_id, failed)]
        if request.redrive is not None:
            log.info("re-driving %s (attempt %d): %d shards", request.benchmark_id, request.redrive.attempt, len(work))
        return [
            Outgoing(topics.BENCHMARKS_PLANNED, request.benchmark_id, plan),
            *(Outgoing(topics.BENCHMARKS_WORK, item.key, item) for item in work),
        ]

    async def on_work_item(self, item: WorkItem) -> list[Outgoing]:
        outputs = await run_work_item(item, self._models.get(item.model, tenant=item.tenant))
        self._telemetry.observe(outputs)
        errors = sum(1 for output in outputs.outputs if output.error)
        log.info("ran shard %s: %d samples, %d errors", item.key, len(outputs.outputs), errors)
        parts = split_outputs(outputs, max_bytes=self._settings.max_message_bytes - SLACK_BYTES)
        return [Outgoing(topics.BENCHMARKS_OUTPUTS, part.key, part) for part in parts]

    async def close(self) -> None:
        await self._models.close()
