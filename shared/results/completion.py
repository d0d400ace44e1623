"""When a benchmark is complete, and what is announced then. Shared by both runtimes.

A benchmark is complete when every planned model x task x sample has a stored score. Scores are
upserts keyed by sample, so counting stored scores counts each sample once however often its
shard was delivered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import cast

from shared.events import BenchmarkCompleted, RunVerdict, Trigger
from shared.results.baselines import drift_section
from shared.results.report import PlanSamples, report_from, report_of
from shared.results.store import BenchmarkRecord, BenchmarkStore

__all__ = ["complete_if_done", "fail_benchmark", "completion_event", "verdict_of"]


async def complete_if_done(
    store: BenchmarkStore,
    benchmark_id: str,
    *,
    scored: int | None = None,
    bootstrap_seed: int,
    bootstrap_resamples: int,
    on_completed: Callable[[BenchmarkRecord], None] | None = None,
    collected: PlanSamples | None = None,
) -> BenchmarkRecord | None:
    """Build and store the report once every planned sample is scored.

    `scored` is the caller's count of stored scores, if it keeps one (else the store counts).
    `collected` is every stored score of the benchmark, if the caller folded them in as it stored
    them (the aggregator): then they are not read back (on FerretDB, reading 20,000 scores back
    took 3-4 s). Anything short of the plan is read back from the store instead.
    `on_completed` hears of the completion when it happens here (not when it had happened before).
    Returns the record when the benchmark is finished (now or before: completed or failed), so
    the caller can announce it; None while samples are still missing.
    """
    record = await store.get_benchmark(benchmark_id)
    if record is None or record.plan is None:
        return None  # scores can overtake their plan: the plan's arrival checks again
    if record.status in ("completed", "failed"):
        return record
    if scored is None:
        scored = await store.count_scores(benchmark_id)
    if scored < record.plan.expected_samples:
        return None
    if collected is not None and collected.plan == record.plan and collected.added == scored:
        samples = collected
    else:
        samples = PlanSamples(record.plan)  # a few numbers per sample, read a batch at a time
        async for batch in store.iter_scores(benchmark_id):
            samples.add(batch)
    if samples.added < record.plan.expected_samples:  # a stale count: never report half a benchmark
        return None
    report = report_from(samples, status="completed", bootstrap_seed=bootstrap_seed, bootstrap_resamples=bootstrap_resamples)
    done = dataclasses.replace(record, status="completed", reason=None)
    drift = await drift_section(store, done, samples.values, seed=bootstrap_seed)
    stored = report.model_copy(update={"drift": drift}).to_json()
    finished = dataclasses.replace(done, report=stored)
    await store.complete(benchmark_id, stored)
    if on_completed is not None:
        on_completed(finished)
    return finished


async def fail_benchmark(store: BenchmarkStore, benchmark_id: str, reason: str) -> BenchmarkCompleted | None:
    """Mark the benchmark failed with `reason`; the announcement for benchmarks.completed (None
    when there is no such benchmark). Every failure, whatever decided it, is announced alike."""
    await store.fail(benchmark_id, reason)
    record = await store.get_benchmark(benchmark_id)
    return completion_event(record) if record is not None else None


def verdict_of(record: BenchmarkRecord) -> RunVerdict | None:
    """The run's verdict against the suite's baseline (None while it runs): `regressed` if any
    cell significantly regressed, else `improved` if any improved, else `unchanged`;
    `no-baseline` when there was nothing to compare with."""
    if record.status == "failed":
        return "failed"
    if record.status != "completed":
        return None
    report = report_of(record)
    cells = report.drift.cells if report is not None and report.drift is not None else []
    if not cells:
        return "no-baseline"
    verdicts = {cell.verdict for cell in cells}
    return "regressed" if "regressed" in verdicts else "improved" if "improved" in verdicts else "unchanged"


def completion_event(record: BenchmarkRecord) -> BenchmarkCompleted:
    """The announcement of a finished benchmark: its verdict, and its report's results and drift."""
    report = report_of(record)
    return BenchmarkCompleted(
        tenant=record.tenant,
        benchmark_id=record.benchmark_id,
        name=record.name,
        suite=record.suite,
        status="completed" if record.status == "completed" else "failed",
        verdict=verdict_of(record) or "failed",
        trigger=cast(Trigger, record.trigger),  # stored from a BenchmarkRequested; validated again here
        requested_by=record.requested_by,
        deployment=record.deployment,
        reason=record.reason,
        results=report.results if report is not None else [],
        drift=report.drift if report is not None else None,
    )
