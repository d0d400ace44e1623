"""How a benchmark's tasks are cut into work items, by count and by bytes, so every item stays
under the broker's message limit however large the records are. The runner plans with it
(services/runner/planner.py); the gateway checks with it that a submission will fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.errors import DatasetError
from shared.events import Sample, WorkItem
from shared.spec import ModelConfig, TaskSpec

if TYPE_CHECKING:  # the type only: loading datasets is I/O, this module is pure
    from shared.datasets import Dataset

__all__ = ["SLACK_BYTES", "resolve_task", "work_task", "shard_budget", "cut_shards"]

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
        len(
            WorkItem(
                benchmark_id=benchmark_id, model=model, task=work_task(task), shard=0, samples=[], examples=list(examples)
            ).to_wire()
        )
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
