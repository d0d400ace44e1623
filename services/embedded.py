"""The embedded runtime: the four stages chained in-process over the SQLite store, no servers.

Exactly the stage functions the Kafka services call, in the same order: plan -> run -> score ->
store the scores -> aggregate when every planned sample is scored. Memory follows the work in
flight, not the benchmark's size: work items are made as `concurrency` workers take them, and
the report reads the scores back a batch at a time (shared/results/completion.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.runner.cache import ResponseCache
from services.runner.executor import run_work_item
from services.runner.models import ModelPool
from services.runner.planner import plan_work
from services.scorer.scoring import score_outputs
from shared.datasets import Dataset, load_task_dataset
from shared.errors import ModelConfigError
from shared.events import BenchmarkPlanned, BenchmarkRequested, Trigger, new_benchmark_id
from shared.results.completion import complete_if_done
from shared.results.store import BenchmarkStore
from shared.settings import Settings
from shared.spec import BenchmarkSpec

__all__ = ["load_datasets", "run_benchmark"]

ProgressCallback = Callable[[int, int], None]
"""Called with (samples scored so far, samples expected)."""


def load_datasets(spec: BenchmarkSpec, *, base_dir: Path) -> dict[str, Dataset]:
    """Every task's dataset, read and checked before anything is stored."""
    return {task.name: load_task_dataset(task, base_dir=base_dir) for task in spec.tasks}


async def run_benchmark(
    spec: BenchmarkSpec,
    *,
    base_dir: Path,
    store: BenchmarkStore,
    settings: Settings,
    trigger: Trigger = "cli",
    requested_by: str | None = None,
    cache: ResponseCache | None = None,
    on_plan: Callable[[BenchmarkPlanned], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Run a benchmark to completion and return its report (also stored as `completed`).

    Bad specs, datasets and model configs raise before the benchmark is stored; a failure after
    that marks the stored benchmark `failed` with the reason, never `completed`. `cache` serves
    the models whose config asks for the response cache.
    """
    datasets = await asyncio.to_thread(load_datasets, spec, base_dir=base_dir)
    models = ModelPool(cache=cache)
    try:
        for model in spec.models:
            models.check(model, tenant=settings.tenant)  # e.g. an unset API key env var: refuse before storing anything
    except ModelConfigError:
        await models.close()
        raise
    request = BenchmarkRequested(
        tenant=settings.tenant, benchmark_id=new_benchmark_id(), spec=spec, trigger=trigger, requested_by=requested_by
    )
    plan, work = plan_work(request, datasets, shard_size=settings.shard_size, max_message_bytes=settings.max_message_bytes)
    await store.create_benchmark(request)
    await store.save_plan(plan)
    if on_plan:
        on_plan(plan)

    scored = 0

    async def take_work() -> None:
        """Run, score and store work items, one at a time, until none is left: the work items
        are made as they are taken, so only `concurrency` of them exist at once."""
        nonlocal scored
        for item in work:
            outputs = await run_work_item(item, models.get(item.model, tenant=item.tenant))
            scored += await store.save_scores(score_outputs(outputs))
            if on_progress:
                on_progress(scored, plan.expected_samples)

    workers = [asyncio.ensure_future(take_work()) for _ in range(settings.concurrency)]
    try:
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:  # after a failure, the others stop too
                worker.cancel()
        record = await complete_if_done(
            store,
            request.benchmark_id,
            scored=scored,
            bootstrap_seed=settings.bootstrap_seed,
            bootstrap_resamples=settings.bootstrap_resamples,
        )
        if record is None or record.report is None:
            raise RuntimeError(f"scored {scored} of {plan.expected_samples} planned samples")
        return record.report
    except BaseException as exc:
        await store.fail(request.benchmark_id, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise
    finally:
        await models.close()
