"""The `benchmarks` command line.

    benchmarks run SPEC [--store PATH] [--json]   run a benchmark in-process (no servers)
    benchmarks show ID [--json]                    a stored report
    benchmarks list                                stored benchmarks, newest first
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from services.aggregator.sqlite_store import SqliteStore
from services.scorer.metrics.registry import get_metric
from shared.errors import InvalidInput
from shared.settings import Settings
from shared.spec import load_spec

__all__ = ["app", "main"]

app = typer.Typer(
    name="benchmarks",
    help="Benchmark AI models continuously: run suites, compare models, watch for drift.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="SQLite file of the embedded store [default: $BENCH_STORE_PATH or ~/.local/share/benchmarks/benchmarks.sqlite3]"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON (the API's shape).")]

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    # Text, not markup: user input such as "tasks[0]" must print as written, on one line
    stderr.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    return typer.Exit(code)


def _open_store(settings: Settings, store: Path | None) -> SqliteStore:
    return SqliteStore(store or settings.store_path, tenant=settings.tenant)


@app.command()
def run(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="Benchmark spec, YAML or JSON.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a benchmark in-process on the embedded store and print the comparison."""
    from services.embedded import run_benchmark  # keeps `benchmarks --help` quick

    settings = Settings()
    try:
        spec = load_spec(spec_path)
    except InvalidInput as exc:
        raise _fail(str(exc)) from None

    async def go() -> dict[str, Any]:
        repository = _open_store(settings, store)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("samples"),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        )
        bar = progress.add_task(spec.name, total=None)
        try:
            with progress:
                return await run_benchmark(
                    spec,
                    base_dir=spec_path.parent,
                    store=repository,
                    settings=settings,
                    on_plan=lambda plan: progress.update(bar, total=plan.expected_samples),
                    on_progress=lambda done, total: progress.update(bar, completed=done, total=total),
                )
        finally:
            await repository.close()

    try:
        report = asyncio.run(go())
    except InvalidInput as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(report)
    else:
        _print_report(report)
        stderr.print(f"stored as {report['benchmarkId']} in {store or settings.store_path}")


@app.command()
def show(
    benchmark_id: Annotated[str, typer.Argument(metavar="ID")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a stored benchmark's report."""
    record = asyncio.run(_read(lambda s: s.get_benchmark(benchmark_id), store))
    if record is None:
        raise _fail(f"no benchmark {benchmark_id!r} in the store (see `benchmarks list`)")
    if record.report is None:
        report = {**record.summary(), "results": []}
        _print_json(report) if as_json else stdout.print(f"{record.benchmark_id} is {record.status}: {record.reason or 'no report yet'}")
        return
    _print_json(record.report) if as_json else _print_report(record.report)


@app.command(name="list")
def list_benchmarks(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many to show.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List stored benchmarks, newest first."""
    records = asyncio.run(_read(lambda s: s.list_benchmarks(limit=limit), store))
    if as_json:
        _print_json([r.summary() for r in records])
        return
    table = Table("id", "name", "status", "created", "reason")
    for r in records:
        table.add_row(r.benchmark_id, r.name, r.status, r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.reason or "")
    stdout.print(table)


async def _read(query, store: Path | None):
    repository = _open_store(Settings(), store)
    try:
        return await query(repository)
    finally:
        await repository.close()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _print_report(report: dict[str, Any]) -> None:
    """One table per task: a row per metric, a column per model, so models compare side by side."""
    stdout.print(f"[bold]{report['name']}[/]  {report['benchmarkId']}  status: {report['status']}")
    details = {(d["model"], d["task"]): d for d in report.get("details", [])}
    models = [row["model"] for row in report["results"]]
    for task in report.get("tasks", []):
        table = Table(title=f"{task['name']} ({task['type']}, {task['samples']} samples)", title_justify="left")
        table.add_column("metric")
        for model in models:
            table.add_column(model, justify="right")
        cells = [details.get((model, task["name"]), {}) for model in models]
        for metric in task["metrics"]:
            table.add_row(metric, *(_format_metric(metric, cell.get("metrics", {}).get(metric)) for cell in cells))
        table.add_row("error rate", *(f"{cell.get('errorRate', 0.0):.0%}" for cell in cells), style="dim")
        table.add_row("latency p50 ms", *(_format_ms((cell.get("latencyMs") or {}).get("p50")) for cell in cells), style="dim")
        stdout.print(table)
        stdout.print(f"  dataset {task['dataset']}  {task['datasetDigest'][:19]}", style="dim")
    stdout.print("  values are means with bootstrap 95% confidence intervals", style="dim")


def _format_metric(name: str, stats: dict[str, float] | None) -> str:
    if not stats or stats["value"] is None or math.isnan(stats["value"]):
        return "-"
    digits = 1 if get_metric(name).scale > 1 else 3
    return f"{stats['value']:.{digits}f} ({stats['ciLow']:.{digits}f}-{stats['ciHigh']:.{digits}f})"


def _format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    app()
