"""Baselines ("golden standards") and comparisons against them, over any store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.errors import InvalidInput
from shared.results.comparison import Run, compare_runs, sample_values
from shared.results.drift import Cells
from shared.results.models import Comparison
from shared.results.store import BenchmarkRecord, BenchmarkStore

__all__ = ["pin_baseline", "compare_benchmark", "compare", "drift_section"]


async def pin_baseline(store: BenchmarkStore, suite: str, benchmark_id: str, models: list[str] | None = None) -> dict[str, str]:
    """Pin a completed benchmark as the suite's baseline for its models (or the ones named)."""
    record = await store.get_benchmark(benchmark_id)
    if record is None:
        raise InvalidInput(f"benchmarkId: no benchmark {benchmark_id!r}")
    if record.status != "completed" or record.plan is None:
        raise InvalidInput(f"benchmarkId: {benchmark_id} is {record.status}; only a completed benchmark can be a baseline")
    if record.suite != suite:  # a baseline compares like with like: the suite's own runs only
        raise InvalidInput(f"benchmarkId: {benchmark_id} is a run of suite {record.suite!r}, not of {suite!r}")
    unknown = sorted(set(models or []) - set(record.plan.models))
    if unknown:
        raise InvalidInput(f"models: {benchmark_id} did not run {', '.join(unknown)} (it ran {', '.join(record.plan.models)})")
    pinned = dict.fromkeys(models or record.plan.models, benchmark_id)
    await store.set_baseline(suite, pinned)
    return await store.get_baseline(suite)


async def _run(store: BenchmarkStore, benchmark_id: str) -> Run:
    record = await store.get_benchmark(benchmark_id)
    if record is None:
        raise InvalidInput(f"no benchmark {benchmark_id!r}")
    if record.status != "completed":
        raise InvalidInput(f"{benchmark_id} is {record.status}: only completed benchmarks can be compared")
    values: Cells = {}
    async for batch in store.iter_scores(benchmark_id):
        sample_values(batch, into=values)
    return record, values


async def compare_benchmark(
    store: BenchmarkStore, benchmark_id: str, against: str = "baseline", *, tolerance: float | None = None, seed: int = 0
) -> Comparison:
    """Compare a completed benchmark with its suite's baseline, or with another benchmark id."""
    current = await _run(store, benchmark_id)
    record = current[0]
    if against == "baseline":
        pinned = await store.get_baseline(record.suite)
        if not pinned:
            raise InvalidInput(f"suite {record.suite!r} has no baseline (pin one with `benchmarks baseline set`)")
    else:
        pinned = dict.fromkeys(record.plan.models if record.plan else [], against)
    return await _compare_with(store, current, pinned, tolerance=tolerance, seed=seed)


async def compare(
    store: BenchmarkStore, benchmark_id: str, against: str = "baseline", *, tolerance: float | None = None, seed: int = 0
) -> dict[str, Any]:
    """`compare_benchmark`'s comparison as its JSON dict, for the readers of dicts (the CLI)."""
    return (await compare_benchmark(store, benchmark_id, against, tolerance=tolerance, seed=seed)).to_json()


async def drift_section(
    store: BenchmarkStore, record: BenchmarkRecord, values: Callable[[], Cells], *, seed: int
) -> Comparison | None:
    """The `drift` section of a newly completed benchmark whose suite has a baseline; `values`
    gives its per-sample scores (called only when there is a baseline to compare with)."""
    pinned = {model: bid for model, bid in (await store.get_baseline(record.suite)).items() if bid != record.benchmark_id}
    if not pinned:
        return None
    try:
        return await _compare_with(store, (record, values()), pinned, seed=seed)
    except InvalidInput:
        return None  # the pinned baseline is gone: report without drift rather than fail


async def _compare_with(
    store: BenchmarkStore, current: Run, pinned: dict[str, str], *, tolerance: float | None = None, seed: int
) -> Comparison:
    """Compare `current` with the benchmark pinned for each model (each read once), under the
    suite's tolerances unless `tolerance` overrides them."""
    runs = {benchmark_id: await _run(store, benchmark_id) for benchmark_id in set(pinned.values())}
    return compare_runs(
        current,
        {model: runs[bid] for model, bid in pinned.items()},
        tolerance=tolerance,
        tolerances=current[0].spec.get("tolerances"),
        seed=seed,
    )
