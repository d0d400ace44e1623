"""Everything the CLI prints: reports, comparisons and listings as rich tables on stdout, JSON,
the progress bar and error lines on stderr."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from services.cli.options import EXIT_REFUSED

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rich.progress import Progress
    from rich.table import Table

    from shared.results.store import BenchmarkRecord

__all__ = [
    "fail",
    "print_audit",
    "print_benchmarks",
    "print_comparison",
    "print_json",
    "print_json_line",
    "print_keys",
    "print_report",
    "print_suites",
    "samples_progress",
    "stderr",
    "stdout",
]

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    """Print `message` as an error on stderr; the exit to raise (`raise fail(...)`)."""
    # Text, not markup: user input such as "tasks[0]" must print as written, on one line
    stderr.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    return typer.Exit(code)


def samples_progress() -> Progress:
    """The progress bar of `run` and `submit --wait`: samples scored of samples planned, on stderr."""
    from rich.progress import (  # at first use, not at start-up
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("samples"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_json_line(data: Any) -> None:
    """`data` as one line of JSON Lines."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def _table(*headers: str, **options: Any) -> Table:
    from rich.table import Table  # at first use, not at start-up

    return Table(*headers, **options)


def print_report(report: dict[str, Any]) -> None:
    """One table per task: a row per metric, a column per model, so models compare side by side."""
    stdout.print(f"[bold]{report['name']}[/]  {report['benchmarkId']}  status: {report['status']}")
    details = {(d["model"], d["task"]): d for d in report.get("details", [])}
    models = [row["model"] for row in report["results"]]
    for task in report.get("tasks", []):
        table = _table(title=f"{task['name']} ({task['type']}, {task['samples']} samples)", title_justify="left")
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
    if not stats or stats["value"] is None:
        return "-"
    from shared.metrics.registry import get_metric

    digits = 1 if get_metric(name).scale > 1 else 3
    return f"{stats['value']:.{digits}f} ({stats['ciLow']:.{digits}f}-{stats['ciHigh']:.{digits}f})"


def _format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_comparison(result: dict[str, Any]) -> None:
    """A row per model / task / metric: the paired test's delta, CI, adjusted p-value, MDE, verdict."""
    table = _table("model / task / metric", "n", "baseline -> current", "delta [95% CI]", "p adj.", "MDE", "verdict")
    for c in result["cells"]:
        style = {"regressed": "red", "improved": "green"}.get(c["verdict"], "")
        table.add_row(
            f"{c['model']} / {c['task']} / {c['metric']}",
            str(c["samples"]),
            f"{c['baseline']:.3g} -> {c['current']:.3g}",
            f"{c['delta']:+.3g} [{c['ciLow']:+.3g}, {c['ciHigh']:+.3g}]",
            f"{c['pAdjusted']:.2g}",
            f"{c['minimumDetectableEffect']:.2g}",
            f"[{style}]{c['verdict']}[/]" if style else c["verdict"],
        )
    stdout.print(table)
    for refusal in result.get("refused", []):
        stdout.print(Text(f"  not compared: {refusal['model']} / {refusal['task'] or '*'}: {refusal['reason']}"), style="yellow")
    stdout.print(
        "  p-values adjusted across cells (Benjamini-Hochberg); MDE: smallest change detectable at 80% power", style="dim"
    )


def print_benchmarks(records: Iterable[BenchmarkRecord]) -> None:
    """Stored benchmarks, a row each."""
    table = _table("id", "name", "suite", "trigger", "status", "created", "reason")
    for r in records:
        table.add_row(
            r.benchmark_id, r.name, r.suite, r.trigger, r.status, r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.reason or ""
        )
    stdout.print(table)


def print_suites(items: list[dict[str, Any]]) -> None:
    """A gateway's suites (GET /v1/suites items), a row each."""
    table = _table("suite", "models", "schedule", "next run", "last scheduled run")
    for item in items:
        schedule = item.get("schedule")
        last = item.get("lastScheduledRun") or {}
        table.add_row(
            item["name"],
            ", ".join(m["name"] for m in item["spec"]["models"]),
            f"{schedule['cron']} ({schedule['timezone']})" if schedule else "-",
            item.get("nextRunAt", "-"),
            last.get("benchmarkId", "-"),
        )
    stdout.print(table)


def print_keys(items: list[dict[str, Any]]) -> None:
    """A tenant's API keys (GET /v1/keys items), a row each."""
    table = _table("key id", "name", "role", "created", "created by", "revoked")
    for item in items:
        table.add_row(
            item["keyId"], item["name"], item["role"], item["createdAt"], item["createdBy"], item.get("revokedAt") or "-"
        )
    stdout.print(table)


def print_audit(items: list[dict[str, Any]]) -> None:
    """A tenant's audit trail (GET /v1/audit items), a row each."""
    table = _table("at", "actor", "action", "target", "detail")
    for item in items:
        table.add_row(item["at"], item["actor"], item["action"], item["target"], json.dumps(item.get("detail") or {}))
    stdout.print(table)
