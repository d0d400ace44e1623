"""Commands on the embedded store (a local SQLite file, no servers): run, show, list, export,
compare and `baseline set|show`; and drift, the paired test of two exported score files."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.cli.options import EXIT_REGRESSED, JsonOption, choices
from services.cli.render import (
    fail,
    print_benchmarks,
    print_comparison,
    print_json,
    print_report,
    samples_progress,
    stderr,
    stdout,
)
from shared.events import Status, Trigger
from shared.settings import Settings
from shared.spec import load_spec

if TYPE_CHECKING:
    from shared.results.sqlite_store import SqliteStore

__all__ = ["baseline_app", "compare", "drift", "export", "list_benchmarks", "run", "show"]

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="SQLite file of the embedded store \\[default: $BENCH_STORE_PATH or ~/.local/share/benchmarks/benchmarks.sqlite3]",
    ),
]
if TYPE_CHECKING:  # members made at run time (options.choices): to mypy, some StrEnum
    TriggerChoice = StrEnum
    StatusChoice = StrEnum
else:
    TriggerChoice = choices("TriggerChoice", Trigger)
    StatusChoice = choices("StatusChoice", Status)


def _open_store(settings: Settings, store: Path | None) -> SqliteStore:
    from shared.results.sqlite_store import SqliteStore  # keeps `benchmarks --help` quick

    return SqliteStore(store or settings.store_path, tenant=settings.tenant)


def _query(store: Path | None, query: Any) -> Any:
    """query(the embedded store) -> awaitable, run to its result; the store is closed after."""

    async def run() -> Any:
        repository = _open_store(Settings(), store)
        try:
            return await query(repository)
        finally:
            await repository.close()

    return asyncio.run(run())


def run(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Benchmark spec, YAML or JSON.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a benchmark in-process on the embedded store and print the comparison."""
    from services.embedded import run_benchmark  # keeps `benchmarks --help` quick

    settings = Settings()
    spec = load_spec(spec_path)

    async def go() -> dict[str, Any]:
        repository = _open_store(settings, store)
        progress = samples_progress()
        bar = progress.add_task(spec.name, total=None)
        try:
            with progress:
                return await run_benchmark(
                    spec,
                    base_dir=spec_path.parent,
                    store=repository,
                    settings=settings,
                    requested_by=os.environ.get("USER") or None,
                    cache=repository,
                    on_plan=lambda plan: progress.update(bar, total=plan.expected_samples),
                    on_progress=lambda done, total: progress.update(bar, completed=done, total=total),
                )
        finally:
            await repository.close()

    report = asyncio.run(go())
    if as_json:
        print_json(report)
    else:
        print_report(report)
        stderr.print(f"stored as {report['benchmarkId']} in {store or settings.store_path}")


def show(
    benchmark_id: Annotated[str, typer.Argument(metavar="ID")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a stored benchmark's report."""
    record = _query(store, lambda s: s.get_benchmark(benchmark_id))
    if record is None:
        raise fail(f"no benchmark {benchmark_id!r} in the store (see `benchmarks list`)")
    if record.report is None:
        report = {**record.summary(), "results": []}
        print_json(report) if as_json else stdout.print(
            f"{record.benchmark_id} is {record.status}: {record.reason or 'no report yet'}"
        )
        return
    print_json(record.report) if as_json else print_report(record.report)


def list_benchmarks(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many to show.")] = 20,
    suite: Annotated[str | None, typer.Option(help="Only this suite's runs.")] = None,
    model: Annotated[str | None, typer.Option(help="Only runs that evaluated this model.")] = None,
    trigger: Annotated[TriggerChoice | None, typer.Option(help="Only runs started this way.")] = None,
    status: Annotated[StatusChoice | None, typer.Option(help="Only runs in this state.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List stored benchmarks, newest first."""
    from shared.results.store import BenchmarkFilter

    where = BenchmarkFilter(
        suite=suite, model=model, trigger=trigger.value if trigger else None, status=status.value if status else None
    )
    records = _query(store, lambda s: s.list_benchmarks(limit=limit, where=where))
    if as_json:
        print_json([r.summary() for r in records])
        return
    print_benchmarks(records)


def export(
    benchmark_id: Annotated[str, typer.Argument(metavar="ID")],
    samples: Annotated[bool, typer.Option("--samples", help="Write per-sample scores, one JSON line each.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write \\[default: standard output].")] = None,
    store: StoreOption = None,
) -> None:
    """Export a stored benchmark: the report, or with --samples its per-sample scores (for `benchmarks drift`)."""
    from shared.results.sample_files import sample_lines

    async def load(repository: Any) -> tuple[Any, list]:
        record = await repository.get_benchmark(benchmark_id)
        return record, (await repository.load_scores(benchmark_id) if record and samples else [])

    record, scored = _query(store, load)
    if record is None:
        raise fail(f"no benchmark {benchmark_id!r} in the store (see `benchmarks list`)")
    lines = (
        [json.dumps(line, ensure_ascii=False) for line in sample_lines(scored)]
        if samples
        else [json.dumps(record.report or record.summary(), ensure_ascii=False)]
    )
    text = "\n".join(lines) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        stderr.print(f"wrote {len(lines)} lines to {output}")


def drift(
    baseline: Annotated[Path, typer.Option("--baseline", help="Per-sample scores of the baseline run (JSONL).")],
    current: Annotated[Path, typer.Option("--current", help="Per-sample scores of the current run (JSONL).")],
    metric: Annotated[list[str] | None, typer.Option("--metric", help="Compare only this metric (repeatable).")] = None,
    tolerance: Annotated[float, typer.Option(min=0.0, help="Smallest |delta| that counts as a change.")] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Paired test of two per-sample score files: delta, 95% CI, p-value and verdict per cell."""
    from shared.results.comparison import decide_cells
    from shared.results.sample_files import read_sample_file

    settings = Settings()
    before, after = read_sample_file(baseline), read_sample_file(current)
    keys = sorted(k for k in before.keys() & after.keys() if not metric or k[2] in metric)
    if not keys:
        raise fail(f"{baseline} and {current} share no model / task / metric" + (f" named {', '.join(metric)}" if metric else ""))
    try:
        decided = decide_cells(before, after, keys, tolerance_of=lambda _: tolerance, seed=settings.bootstrap_seed)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json([cell.to_json() for cell in decided])
    else:
        print_comparison({"cells": [cell.to_json() for cell in decided]})
    if any(c.verdict == "regressed" for c in decided):
        raise typer.Exit(EXIT_REGRESSED)


def compare(
    benchmark_id: Annotated[str, typer.Argument(metavar="ID")],
    other: Annotated[
        str | None, typer.Argument(metavar="OTHER", help="Another benchmark id \\[default: the suite's baseline].")
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option(min=0.0, help="Smallest |delta| that counts as a change \\[default: the spec's tolerances].")
    ] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare a benchmark with its suite's baseline (or OTHER): paired tests per model x task x metric."""
    from shared.results.baselines import compare as compare_benchmarks

    settings = Settings()
    result = _query(
        store,
        lambda s: compare_benchmarks(s, benchmark_id, other or "baseline", tolerance=tolerance, seed=settings.bootstrap_seed),
    )
    if as_json:
        print_json(result)
    else:
        print_comparison(result)
    if result["regressed"]:
        raise typer.Exit(EXIT_REGRESSED)


baseline_app = typer.Typer(help="Pin or show a suite's baseline (its golden standard).", no_args_is_help=True)


@baseline_app.command("set")
def baseline_set(
    suite: Annotated[str, typer.Argument(metavar="SUITE")],
    benchmark_id: Annotated[str, typer.Argument(metavar="ID", help="A completed benchmark of the suite.")],
    model: Annotated[list[str] | None, typer.Option("--model", help="Pin only for this model (repeatable).")] = None,
    store: StoreOption = None,
) -> None:
    """Pin a completed benchmark as SUITE's baseline, for all its models or those named."""
    from shared.results.baselines import pin_baseline

    pinned = _query(store, lambda s: pin_baseline(s, suite, benchmark_id, model))
    print_json({"suite": suite, "models": pinned})


@baseline_app.command("show")
def baseline_show(suite: Annotated[str, typer.Argument(metavar="SUITE")], store: StoreOption = None) -> None:
    """Show SUITE's baseline: the benchmark pinned for each model."""
    pinned = _query(store, lambda s: s.get_baseline(suite))
    if not pinned:
        raise fail(f"suite {suite!r} has no baseline (pin one with `benchmarks baseline set {suite} ID`)")
    print_json({"suite": suite, "models": pinned})
