"""The plan stage: a benchmark request and its loaded datasets -> the plan and the work shards."""

from __future__ import annotations

from collections.abc import Mapping

from shared.datasets import Dataset
from shared.events import BenchmarkPlanned, BenchmarkRequested, TaskPlan, WorkItem
from shared.spec import TaskSpec

__all__ = ["plan_benchmark", "resolve_task"]


def resolve_task(task: TaskSpec, dataset: Dataset) -> TaskSpec:
    """Fill in what the data decides: a classification task's labels, when the spec gives none."""
    if task.type == "classification" and not task.labels:
        labels = sorted({ref for sample in dataset.samples for ref in sample.references})
        return task.model_copy(update={"labels": labels})
    return task


def plan_benchmark(
    request: BenchmarkRequested, datasets: Mapping[str, Dataset], *, shard_size: int
) -> tuple[BenchmarkPlanned, list[WorkItem]]:
    """Split every model x task into shards of at most `shard_size` samples."""
    spec = request.spec
    work: list[WorkItem] = []
    task_plans: list[TaskPlan] = []
    for task in spec.tasks:
        dataset = datasets[task.name]
        resolved = resolve_task(task, dataset)
        task_plans.append(
            TaskPlan(
                name=task.name,
                type=task.type,
                dataset=dataset.location,
                dataset_digest=dataset.digest,
                samples=len(dataset.samples),
                metrics=list(resolved.metrics),
                stemming=resolved.stemming,
            )
        )
        shards = [dataset.samples[i : i + shard_size] for i in range(0, len(dataset.samples), shard_size)]
        for model in spec.models:
            for index, samples in enumerate(shards):
                work.append(
                    WorkItem(
                        tenant=request.tenant,
                        benchmark_id=request.benchmark_id,
                        model=model,
                        task=resolved,
                        shard=index,
                        samples=list(samples),
                        examples=list(dataset.examples),
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
    return plan, work
