"""The plan stage: a benchmark request and its loaded datasets -> the plan and the work shards.

Shards are cut by count and by bytes, so every work item stays under the broker's message limit
however large the records are; a record too large for any message fails the plan with its name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.datasets import Dataset
from shared.errors import DatasetError
from shared.events import BenchmarkPlanned, BenchmarkRequested, Sample, TaskPlan, WorkItem
from shared.spec import ModelConfig, TaskSpec

__all__ = ["plan_benchmark", "resolve_task", "work_task", "cut_shards", "shard_budget"]

SLACK_BYTES = 2_000
"""Room left in every message for what the estimate does not see (headers, the key, rounding)."""


def resolve_task(task: TaskSpec, dataset: Dataset) -> TaskSpec:
    """Fill in what the data decides: a classification task's labels, when the spec gives none."""
    if task.type == "classification" and not task.labels:
        labels = sorted({ref for sample in dataset.samples for ref in sample.references})
        return task.model_copy(update={"labels": labels})
    return task


def work_task(task: TaskSpec) -> TaskSpec:
    """The task as a work item carries it: without inline records, since each shard carries its
    own samples (with them, every shard would repeat the whole dataset)."""
    if task.dataset.records is None:
        return task
    return task.model_copy(update={"dataset": task.dataset.model_copy(update={"records": []})})


def shard_budget(
    benchmark_id: str, models: Sequence[ModelConfig], task: TaskSpec, examples: Sequence[Sample], *, max_message_bytes: int
) -> int:
    """Bytes of samples one work item of `task` may carry: the message limit less everything else
    the item holds (the largest model config, the task, the few-shot examples)."""
    overhead = max(
        len(WorkItem(
            benchmark_id=benchmark_id, model=model, task=work_task(task), shard=0, samples=[], examples=list(examples)
        ).to_wire())
        for model in models
    )
    return max_message_bytes - overhead - SLACK_BYTES


def cut_shards(samples: Sequence[Sample], *, max_samples: int, max_bytes: int, task: str) -> list[list[Sample]]:
    """Consecutive runs of at most `max_samples` samples and `max_bytes` encoded bytes each.
    A DatasetError names the first sample too large for a message of its own."""
    shards: list[list[Sample]] = []
    current: list[Sample] = []
    used = 0
    for sample in samples:
        size = len(sample.to_wire()) + 1  # the separating comma
        if size > max_bytes:
            raise DatasetError(
                f"task {task!r}: sample {sample.id!r} is {size:,} bytes encoded; one message holds at most"
                f" {max(max_bytes, 0):,} bytes of samples (BENCH_MAX_MESSAGE_BYTES): shorten or drop it"
            )
        if current and (len(current) == max_samples or used + size > max_bytes):
            shards.append(current)
            current, used = [], 0
        current.append(sample)
        used += size
    if current:
        shards.append(current)
    return shards


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
        budget = shard_budget(
            request.benchmark_id, spec.models, resolved, dataset.examples, max_message_bytes=max_message_bytes
        )
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
