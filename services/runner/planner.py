"""The plan stage: a benchmark request and its loaded datasets -> the plan and the work shards.

Shards are cut by count and by bytes, so every work item stays under the broker's message limit
however large the records are; a record too large for any message fails the plan with its name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from shared.events import BenchmarkPlanned, BenchmarkRequested, Sample, TaskPlan, WorkItem
from shared.shards import cut_shards, resolve_task, shard_budget, work_task
from shared.spec import TaskSpec

if TYPE_CHECKING:  # the type only: loading datasets is I/O, this module is pure
    from shared.datasets import Dataset

__all__ = ["plan_benchmark", "plan_work"]


def plan_benchmark(
    request: BenchmarkRequested, datasets: Mapping[str, Dataset], *, shard_size: int, max_message_bytes: int
) -> tuple[BenchmarkPlanned, list[WorkItem]]:
    """Split every model x task into shards of at most `shard_size` samples that fit in a message.
    A re-drive (`request.redrive`) keeps only the shards it names; the plan is the same."""
    plan, work = plan_work(request, datasets, shard_size=shard_size, max_message_bytes=max_message_bytes)
    return plan, list(work)


def plan_work(
    request: BenchmarkRequested, datasets: Mapping[str, Dataset], *, shard_size: int, max_message_bytes: int
) -> tuple[BenchmarkPlanned, Iterator[WorkItem]]:
    """`plan_benchmark`, with the work items made one at a time as they are taken, in the same
    order: a runtime that runs them as it goes holds only the ones in flight. The plan, and
    any error in the data, come at once."""
    spec = request.spec
    task_plans: list[TaskPlan] = []
    cut: list[tuple[TaskSpec, list[list[Sample]], tuple[Sample, ...]]] = []
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
        cut.append((work_task(resolved), shards, dataset.examples))
    plan = BenchmarkPlanned(
        tenant=request.tenant,
        benchmark_id=request.benchmark_id,
        name=spec.name,
        suite=spec.suite_name,
        models=[model.name for model in spec.models],
        tasks=task_plans,
        shards=len(spec.models) * sum(len(shards) for _, shards, _ in cut),
    )
    wanted = None
    if request.redrive is not None and request.redrive.shards is not None:
        wanted = {(ref.model, ref.task, ref.shard) for ref in request.redrive.shards}
    return plan, _work_items(request, cut, wanted)


def _work_items(
    request: BenchmarkRequested,
    cut: Sequence[tuple[TaskSpec, list[list[Sample]], tuple[Sample, ...]]],
    wanted: set[tuple[str, str, int]] | None,
) -> Iterator[WorkItem]:
    for task, shards, examples in cut:
        for model in request.spec.models:
            for index, samples in enumerate(shards):
                if wanted is not None and (model.name, task.name, index) not in wanted:
                    continue
                yield WorkItem(
                    tenant=request.tenant,
                    benchmark_id=request.benchmark_id,
                    model=model,
                    task=task,
                    shard=index,
                    samples=list(samples),
                    examples=list(examples),
                    trigger=request.trigger,
                )
