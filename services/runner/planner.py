"""The plan stage: a benchmark request and its loaded datasets -> the plan and the work shards.

Shards are cut by count and by bytes, so every work item stays under the broker's message limit
however large the records are; a record too large for any message fails the plan with its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.events import BenchmarkPlanned, BenchmarkRequested, TaskPlan, WorkItem
from shared.shards import cut_shards, resolve_task, shard_budget, work_task

if TYPE_CHECKING:  # the type only: loading datasets is I/O, this module is pure
    from shared.datasets import Dataset

__all__ = ["plan_benchmark"]


def plan_benchmark(
    request: BenchmarkRequested, datasets: Mapping[str, Dataset], *, shard_size: int, max_message_bytes: int
) -> tuple[BenchmarkPlanned, list[WorkItem]]:
    """Split every model x task into shards of at most `shard_size` samples that fit in a message.
    A re-drive (`request.redrive`) keeps only the shards it names; the plan is the same."""
    spec = request.spec
    work: list[WorkItem] = []
    task_plans: list[TaskPlan] = []
    for task in spec.tasks:
        dataset = datasets[task.name]
        resolved = resolve_task(task, dataset)
        budget = shard_budget(request.benchmark_id, spec.models, resolved, dataset.examples, max_message_bytes=max_message_bytes)
        shards = cut_shards(dataset.samples, max_samples=shard_size, max_bytes=budget, task=task.name)
        task_plans.append(
            TaskPlan(
                name=task.name,
                type=task.type,
                dataset=dataset.location,
                dataset_digest=dataset.digest,
                samples=len(dataset.samples),
                metrics=list(resolved.metrics),
                stemming=resolved.stemming,
                shard_sizes=[len(shard) for shard in shards],
            )
        )
        for model in spec.models:
            for index, samples in enumerate(shards):
                work.append(
                    WorkItem(
                        tenant=request.tenant,
                        benchmark_id=request.benchmark_id,
                        model=model,
                        task=work_task(resolved),
                        shard=index,
                        samples=list(samples),
                        examples=list(dataset.examples),
                        trigger=request.trigger,
                    )
                )
    plan = BenchmarkPlanned(
        tenant=request.tenant,
        benchmark_id=request.benchmark_id,
        name=spec.name,
        suite=spec.suite_name,
        models=[model.name for model in spec.models],
        tasks=task_plans,
        shards=len(work),
    )
    if request.redrive is not None and request.redrive.shards is not None:
        wanted = {(ref.model, ref.task, ref.shard) for ref in request.redrive.shards}
        work = [item for item in work if (item.model.name, item.task.name, item.shard) in wanted]
    return plan, work
