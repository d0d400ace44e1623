"""The `benchmarks` command line.

    benchmarks run SPEC [--store PATH] [--json]   run a benchmark in-process (no servers)
    benchmarks show ID [--json]                    a stored report
    benchmarks list                                stored benchmarks, newest first
    benchmarks serve gateway|runner|scorer|aggregator
                                                   run one service of the distributed shape
    benchmarks submit SPEC [--wait] [--url URL]    send a benchmark to a gateway
    benchmarks submit --suite NAME [--model M] [--endpoint URL] --wait --fail-on regressed
                                                   run a stored suite; a CI gate
    benchmarks score --input PAIRS.JSONL [--metrics M,...]
                                                   score predictions produced elsewhere
    benchmarks keys bootstrap|create|list|revoke  API keys of a gateway ($BENCH_API_KEY is sent)
    benchmarks audit                               the tenant's audit trail (admins)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from shared.errors import InvalidInput
from shared.events import ClientTrigger, Status, Trigger
from shared.settings import Settings
from shared.spec import load_spec

if TYPE_CHECKING:
    from shared.results.sqlite_store import SqliteStore

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
    typer.Option("--store", help="SQLite file of the embedded store \\[default: $BENCH_STORE_PATH or ~/.local/share/benchmarks/benchmarks.sqlite3]"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON (the API's shape).")]
UrlOption = Annotated[str | None, typer.Option("--url", help="Gateway URL \\[default: $BENCH_GATEWAY_URL or http://127.0.0.1:8000]")]

# Exit codes scripts and CI rely on
EXIT_RUN_FAILED = 1
EXIT_REFUSED = 2
EXIT_REGRESSED = 3
EXIT_NO_BASELINE = 4

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def _fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    # Text, not markup: user input such as "tasks[0]" must print as written, on one line
    stderr.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    return typer.Exit(code)


def _samples_progress() -> Progress:
    """The progress bar of `run` and `submit --wait`: samples scored of samples planned, on stderr."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
        TimeElapsedColumn(), console=stderr, transient=True,
    )


def _open_store(settings: Settings, store: Path | None) -> SqliteStore:
    from shared.results.sqlite_store import SqliteStore  # keeps `benchmarks --help` quick

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
    spec = load_spec(spec_path)

    async def go() -> dict[str, Any]:
        repository = _open_store(settings, store)
        progress = _samples_progress()
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
    record = _query(store, lambda s: s.get_benchmark(benchmark_id))
    if record is None:
        raise _fail(f"no benchmark {benchmark_id!r} in the store (see `benchmarks list`)")
    if record.report is None:
        report = {**record.summary(), "results": []}
        _print_json(report) if as_json else stdout.print(f"{record.benchmark_id} is {record.status}: {record.reason or 'no report yet'}")
        return
    _print_json(record.report) if as_json else _print_report(record.report)


def _choices(name: str, values: Any) -> Any:
    """An Enum of a Literal's values, so typer offers (and checks) exactly those."""
    return Enum(name, {value: value for value in get_args(values)}, type=str)


TriggerChoice = _choices("TriggerChoice", Trigger)
StatusChoice = _choices("StatusChoice", Status)


@app.command(name="list")
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
        _print_json([r.summary() for r in records])
        return
    table = Table("id", "name", "suite", "trigger", "status", "created", "reason")
    for r in records:
        table.add_row(
            r.benchmark_id, r.name, r.suite, r.trigger, r.status, r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.reason or ""
        )
    stdout.print(table)


@app.command()
def score(
    input_path: Annotated[
        Path,
        typer.Option("--input", "-i", metavar="PAIRS.JSONL", help="One JSON object per line: prediction, references (or reference), optional id; - reads standard input."),
    ],
    metrics: Annotated[str, typer.Option(help="Comma-separated metric names.")] = "rouge-1,rouge-2,rouge-l,rouge-lsum",
    stemming: Annotated[bool, typer.Option("--stemming/--no-stemming", help="Porter stemming for ROUGE (rouge-score's use_stemmer).")] = True,
) -> None:
    """Score predictions produced elsewhere: a JSON line per pair with every metric, then a summary line."""
    from services.scorer.pairs import parse_metric_names, read_pairs, score_pair, summarize

    settings = Settings()
    chosen = parse_metric_names(metrics, stemming=stemming)
    pairs = read_pairs(input_path)
    scored = []
    for pair in pairs:
        scored.append(score_pair(pair, chosen))
        sys.stdout.write(json.dumps(scored[-1].row(), ensure_ascii=False) + "\n")
    summary = summarize(scored, chosen, seed=settings.bootstrap_seed, resamples=settings.bootstrap_resamples)
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")


def _query(store: Path | None, query: Any) -> Any:
    """query(the embedded store) -> awaitable, run to its result; the store is closed after."""

    async def run() -> Any:
        repository = _open_store(Settings(), store)
        try:
            return await query(repository)
        finally:
            await repository.close()

    return asyncio.run(run())


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
    if not stats or stats["value"] is None:
        return "-"
    from shared.metrics.registry import get_metric

    digits = 1 if get_metric(name).scale > 1 else 3
    return f"{stats['value']:.{digits}f} ({stats['ciLow']:.{digits}f}-{stats['ciHigh']:.{digits}f})"


def _format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@app.command()
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
        raise _fail(f"no benchmark {benchmark_id!r} in the store (see `benchmarks list`)")
    lines = [json.dumps(line, ensure_ascii=False) for line in sample_lines(scored)] if samples else [
        json.dumps(record.report or record.summary(), ensure_ascii=False)
    ]
    text = "\n".join(lines) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        stderr.print(f"wrote {len(lines)} lines to {output}")


@app.command()
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
        raise _fail(f"{baseline} and {current} share no model / task / metric" + (f" named {', '.join(metric)}" if metric else ""))
    try:
        decided = decide_cells(before, after, keys, tolerance_of=lambda _: tolerance, seed=settings.bootstrap_seed)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json([cell.to_json() for cell in decided])
    else:
        _print_comparison({"cells": [cell.to_json() for cell in decided]})
    if any(c.verdict == "regressed" for c in decided):
        raise typer.Exit(EXIT_REGRESSED)


baseline_app = typer.Typer(help="Pin or show a suite's baseline (its golden standard).", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


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
    _print_json({"suite": suite, "models": pinned})


@baseline_app.command("show")
def baseline_show(suite: Annotated[str, typer.Argument(metavar="SUITE")], store: StoreOption = None) -> None:
    """Show SUITE's baseline: the benchmark pinned for each model."""
    pinned = _query(store, lambda s: s.get_baseline(suite))
    if not pinned:
        raise _fail(f"suite {suite!r} has no baseline (pin one with `benchmarks baseline set {suite} ID`)")
    _print_json({"suite": suite, "models": pinned})


@app.command()
def compare(
    benchmark_id: Annotated[str, typer.Argument(metavar="ID")],
    other: Annotated[str | None, typer.Argument(metavar="OTHER", help="Another benchmark id \\[default: the suite's baseline].")] = None,
    tolerance: Annotated[float | None, typer.Option(min=0.0, help="Smallest |delta| that counts as a change \\[default: the spec's tolerances].")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare a benchmark with its suite's baseline (or OTHER): paired tests per model x task x metric."""
    from shared.results.baselines import compare as compare_benchmarks

    settings = Settings()
    result = _query(
        store, lambda s: compare_benchmarks(s, benchmark_id, other or "baseline", tolerance=tolerance, seed=settings.bootstrap_seed)
    )
    if as_json:
        _print_json(result)
    else:
        _print_comparison(result)
    if result["regressed"]:
        raise typer.Exit(EXIT_REGRESSED)


def _print_comparison(result: dict[str, Any]) -> None:
    table = Table("model / task / metric", "n", "baseline -> current", "delta [95% CI]", "p adj.", "MDE", "verdict")
    for c in result["cells"]:
        style = {"regressed": "red", "improved": "green"}.get(c["verdict"], "")
        table.add_row(
            f"{c['model']} / {c['task']} / {c['metric']}", str(c["samples"]), f"{c['baseline']:.3g} -> {c['current']:.3g}",
            f"{c['delta']:+.3g} [{c['ciLow']:+.3g}, {c['ciHigh']:+.3g}]", f"{c['pAdjusted']:.2g}",
            f"{c['minimumDetectableEffect']:.2g}", f"[{style}]{c['verdict']}[/]" if style else c["verdict"],
        )
    stdout.print(table)
    for refusal in result.get("refused", []):
        stdout.print(Text(f"  not compared: {refusal['model']} / {refusal['task'] or '*'}: {refusal['reason']}"), style="yellow")
    stdout.print("  p-values adjusted across cells (Benjamini-Hochberg); MDE: smallest change detectable at 80% power", style="dim")


suite_app = typer.Typer(help="Suites stored on a gateway: benchmark templates, optionally re-run on a schedule.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")


@suite_app.command("put")
def suite_put(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Suite file, YAML or JSON: name, spec, schedule.")],
    url: UrlOption = None,
) -> None:
    """Create or replace a suite from a file; local dataset files are sent inline."""
    from shared.suites import load_suite

    suite = load_suite(path)
    body = {**suite.model_dump(mode="json", by_alias=True, exclude_none=True), "spec": _inlined(suite.spec, path)}
    response = _call_gateway(url, "PUT", f"/v1/suites/{suite.name}", json=body)
    stored = response.json()
    verb = "created" if response.status_code == 201 else "replaced"
    when = f"; next run {stored['nextRunAt']}" if stored.get("nextRunAt") else "; no schedule"
    stdout.print(f"{verb} suite {suite.name!r}{when}")


@suite_app.command("list")
def suite_list(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Suites with their schedules and latest scheduled runs."""
    items = _call_gateway(url, "GET", "/v1/suites").json()["items"]
    if as_json:
        _print_json(items)
        return
    table = Table("suite", "models", "schedule", "next run", "last scheduled run")
    for item in items:
        schedule = item.get("schedule")
        last = item.get("lastScheduledRun") or {}
        table.add_row(
            item["name"], ", ".join(m["name"] for m in item["spec"]["models"]),
            f"{schedule['cron']} ({schedule['timezone']})" if schedule else "-", item.get("nextRunAt", "-"),
            last.get("benchmarkId", "-"),
        )
    stdout.print(table)


@suite_app.command("show")
def suite_show(name: Annotated[str, typer.Argument(metavar="NAME")], url: UrlOption = None) -> None:
    """A suite as stored (JSON)."""
    _print_json(_call_gateway(url, "GET", f"/v1/suites/{name}").json())


@suite_app.command("delete")
def suite_delete(name: Annotated[str, typer.Argument(metavar="NAME")], url: UrlOption = None) -> None:
    """Delete a suite and its schedule (its benchmarks and baselines stay)."""
    _call_gateway(url, "DELETE", f"/v1/suites/{name}")
    stdout.print(f"deleted suite {name!r}")


keys_app = typer.Typer(help="API keys of a gateway: who may read, submit or administer, for which tenant.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
RoleChoice = _choices("RoleChoice", Literal["reader", "submitter", "admin"])  # services.gateway.api_keys.Role, unimported: a CLI start stays light


@keys_app.command("bootstrap")
def keys_bootstrap(
    tenant: Annotated[str, typer.Option(help="The tenant the key administers.")] = "default",
    name: Annotated[str, typer.Option(help="Who holds the key (recorded with everything it does).")] = "admin",
) -> None:
    """Create an admin key directly in the database ($BENCH_MONGO_URL): the first key of a fresh
    install, or of a new tenant. Only whoever can reach the database can do this; the key is
    printed once and stored only as a hash."""
    from shared.results.mongo_store import MongoStore
    from services.gateway.api_keys import KeyStore
    from services.gateway.audit import AuditLog
    from shared.events import utc_now

    async def create() -> str:
        store = await MongoStore.connect(Settings())
        try:
            keys, audit = KeyStore(store.database), AuditLog(store.database)
            await keys.ensure_indexes()
            record, secret = await keys.create(tenant=tenant, role="admin", name=name, created_by="operator (database)", now=utc_now())
            await audit.record(tenant, actor="operator (database)", action="key.create", target=record.key_id,
                               at=record.created_at, detail={"name": name, "role": "admin"})
            return secret
        finally:
            await store.close()

    secret = asyncio.run(create())
    stderr.print(f"admin key for tenant {tenant!r} (shown once; export it as BENCH_API_KEY):")
    stdout.print(secret)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Who or what will hold it (e.g. ci-deploys).")],
    role: Annotated[RoleChoice, typer.Option(help="reader: read; submitter: also run; admin: also manage.")] = RoleChoice.reader,
    url: UrlOption = None,
) -> None:
    """Create a key of your own tenant (needs an admin key in $BENCH_API_KEY); printed once."""
    created = _call_gateway(url, "POST", "/v1/keys", json={"name": name, "role": role.value}).json()
    stderr.print(f"{created['role']} key {created['keyId']} for {created['name']!r} of tenant {created['tenant']!r} (shown once):")
    stdout.print(created["key"])


@keys_app.command("list")
def keys_list(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Your tenant's keys (never their secrets)."""
    items = _call_gateway(url, "GET", "/v1/keys").json()["items"]
    if as_json:
        _print_json(items)
        return
    table = Table("key id", "name", "role", "created", "created by", "revoked")
    for item in items:
        table.add_row(item["keyId"], item["name"], item["role"], item["createdAt"], item["createdBy"], item.get("revokedAt") or "-")
    stdout.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="KEY_ID")], url: UrlOption = None) -> None:
    """Revoke a key at once."""
    _call_gateway(url, "DELETE", f"/v1/keys/{key_id}")
    stdout.print(f"revoked {key_id}")


@app.command()
def audit(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. suite.delete).")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who changed what in your tenant, newest first (needs an admin key)."""
    params = {"limit": limit, **({"action": action} if action else {})}
    items = _call_gateway(url, "GET", "/v1/audit", params=params).json()["items"]
    if as_json:
        _print_json(items)
        return
    table = Table("at", "actor", "action", "target", "detail")
    for item in items:
        table.add_row(item["at"], item["actor"], item["action"], item["target"], json.dumps(item.get("detail") or {}))
    stdout.print(table)


@contextmanager
def _gateway(url: str | None) -> Iterator[Any]:
    """An HTTP client for the gateway (`url`, else $BENCH_GATEWAY_URL) that sends $BENCH_API_KEY;
    an unreachable gateway ends the command (exit 2)."""
    import httpx

    settings = Settings()
    gateway_url = (url or settings.gateway_url).rstrip("/")
    headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"} if settings.api_key else {}
    try:
        with httpx.Client(base_url=gateway_url, timeout=60.0, headers=headers) as client:
            yield client
    except httpx.TransportError as exc:
        raise _fail(f"cannot reach the gateway at {gateway_url}: {exc} (start one with scripts/dev.sh up)") from None


def _call_gateway(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the gateway; a refusal ends the command (exit 2)."""
    with _gateway(url) as client:
        return _accepted(client.request(method, path, **kwargs), f"{method} {path}")


def _accepted(response: Any, what: str) -> Any:
    """`response`, unless the gateway refused: then its reason ends the command (exit 2)."""
    if response.status_code == 401:
        raise _fail(f"{what}: HTTP 401: {_reason(response)} (set BENCH_API_KEY to a key from `benchmarks keys create`)")
    if response.status_code >= 400:
        raise _fail(f"{what}: HTTP {response.status_code}: {_reason(response)}")
    return response


class Service(str, Enum):
    gateway = "gateway"
    runner = "runner"
    scorer = "scorer"
    aggregator = "aggregator"


@app.command()
def serve(
    service: Annotated[Service, typer.Argument(help="Which service to run.")],
    host: Annotated[str | None, typer.Option(help="Bind address \\[default: $BENCH_SERVICE_HOST or 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port \\[default: $BENCH_<SERVICE>_PORT]")] = None,
) -> None:
    """Run one service (Kafka + MongoDB settings from BENCH_* variables)."""
    import importlib

    import uvicorn

    from shared.logs import configure_service_logging

    settings = Settings()
    module = importlib.import_module(f"services.{service.value}.app")
    # after the import: FastStream's own (non-propagating) loggers exist by now and get the filter too
    configure_service_logging(service.value, reminder_s=settings.log_reminder_s)
    uvicorn.run(
        module.create_app(settings),
        host=host or settings.service_host,
        port=port or getattr(settings, f"{service.value}_port"),
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )


class FailOn(str, Enum):
    never = "never"
    regressed = "regressed"


SubmitTrigger = _choices("SubmitTrigger", ClientTrigger)


@app.command()
def submit(
    spec_path: Annotated[Path | None, typer.Argument(metavar="[SPEC]", help="Benchmark spec, YAML or JSON (or use --suite).")] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Run this stored suite instead of a spec file.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="With --suite: run only this model (repeatable).")] = None,
    model_config: Annotated[
        list[Path] | None, typer.Option("--model-config", help="With --suite: a model config file (YAML/JSON) to run instead of the suite's model of that name, or in addition (repeatable).")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="With --suite: base URL of the one model run (a candidate deployment).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the report, with a progress bar.")] = False,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="With --wait: exit 3 when the run regressed against the suite's baseline.")] = FailOn.never,
    require_baseline: Annotated[bool, typer.Option("--require-baseline", help="With --wait: exit 4 when the suite has no baseline to compare with.")] = False,
    trigger: Annotated[SubmitTrigger | None, typer.Option(help="Recorded trigger \\[default: ci when $CI is set, else api].")] = None,
    reason: Annotated[str | None, typer.Option(help="Why, in words (e.g. the commit under test) \\[default: from the CI environment or $USER].")] = None,
    url: UrlOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the report.")] = 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Send a benchmark (a spec file, or a stored suite's run) to a gateway; local dataset files
    are sent inline. Exit codes: 0 done, 1 run failed or timed out, 2 refused or bad input,
    3 regressed (--fail-on regressed), 4 no baseline (--require-baseline)."""
    if (spec_path is None) == (suite is None):
        raise _fail("give a spec file or --suite NAME (one of them)")
    if suite is None and (model or model_config or endpoint):
        raise _fail("--model, --model-config and --endpoint go with --suite")
    if not wait and (fail_on is not FailOn.never or require_baseline):
        raise _fail("--fail-on and --require-baseline judge the finished run: add --wait")
    # who asks is the API key's name, recorded by the gateway; the reason is the client's own words
    params = {"trigger": (trigger or (SubmitTrigger.ci if _in_ci() else SubmitTrigger.api)).value, "reason": reason or _context()}
    params = {k: v for k, v in params.items() if v is not None}
    if suite is not None:
        path = f"/v1/suites/{suite}/runs"
        body = {**params, "models": model or None, "modelConfigs": [_model_config(p) for p in model_config or []], "endpoint": endpoint}
        name, query = suite, None
    else:
        spec = load_spec(spec_path)
        body, name, path, query = _inlined(spec, spec_path), spec.name, "/v1/benchmarks", params

    with _gateway(url) as client:
        accepted = _accepted(
            post_with_retries(client, path, json=body, params=query, idempotency_key=str(uuid.uuid4())),
            f"{spec_path or suite}: the gateway refused the benchmark",
        )
        benchmark_id = accepted.json()["benchmarkId"]
        if not wait:
            _print_json(accepted.json()) if as_json else stdout.print(benchmark_id)
            return
        report = _wait_for_report(client, benchmark_id, name, timeout)
    if as_json:
        _print_json(report)
    else:
        _print_report(report)
        if report.get("drift"):
            _print_comparison(report["drift"])
    if report["status"] != "completed":
        raise _fail(f"{benchmark_id} {report['status']}: {report.get('reason') or 'no reason given'}", code=EXIT_RUN_FAILED)
    verdict = report.get("verdict")
    stderr.print(f"{benchmark_id}: {verdict} against the baseline of suite {report['suite']!r}" if verdict != "no-baseline"
                 else f"{benchmark_id}: suite {report['suite']!r} has no baseline to compare with")
    if fail_on is FailOn.regressed and verdict == "regressed":
        raise typer.Exit(EXIT_REGRESSED)
    if require_baseline and verdict == "no-baseline":
        raise typer.Exit(EXIT_NO_BASELINE)


def _inlined(spec: Any, spec_path: Path) -> dict[str, Any]:
    """The spec as a request body, local dataset files inlined (the gateway reads no local files)."""
    from shared.datasets import inline_records

    tasks = [t.model_copy(update={"dataset": inline_records(t.dataset, base_dir=spec_path.parent)}) for t in spec.tasks]
    return spec.model_copy(update={"tasks": tasks}).model_dump(mode="json", by_alias=True, exclude_none=True)


def _model_config(path: Path) -> dict[str, Any]:
    """A model config file, checked here so a typo fails before anything is sent."""
    from shared.spec import ModelConfig, parse_document, read_document

    config = parse_document(ModelConfig, read_document(path, "model config"), source=str(path))
    return config.model_dump(mode="json", by_alias=True, exclude_none=True)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _context() -> str | None:
    """Where the run comes from: the CI job (GitHub Actions' variables) or the local user."""
    repository, sha, actor = (os.environ.get(name) for name in ("GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_ACTOR"))
    if repository:
        return f"run by {actor or 'github-actions'} via {repository}" + (f"@{sha[:12]}" if sha else "")
    return f"run by {os.environ['USER']} with the benchmarks CLI" if os.environ.get("USER") else None


def _wait_for_report(client, benchmark_id: str, name: str, timeout: float) -> dict[str, Any]:  # noqa: ANN001
    import time

    progress = _samples_progress()
    bar = progress.add_task(f"{name} ({benchmark_id})", total=None)
    deadline = time.monotonic() + timeout
    next_line = time.monotonic()  # without a terminal (a CI log) the bar draws nothing: print lines
    with progress:
        while True:
            response = _transient_failure_as_none(lambda: client.get(f"/v1/benchmarks/{benchmark_id}"))
            if response is None:  # the gateway or its database is away for a moment: keep waiting
                if time.monotonic() > deadline:
                    raise _fail(f"{benchmark_id}: the gateway did not answer for {timeout:.0f}s", code=EXIT_RUN_FAILED)
                time.sleep(1.0)
                continue
            report = _accepted(response, f"reading {benchmark_id}").json()
            done = report.get("progress") or {}
            progress.update(bar, completed=done.get("scored", 0), total=done.get("expected"))
            if not stderr.is_terminal and time.monotonic() >= next_line:
                stderr.print(f"{benchmark_id}: {report['status']}, {done.get('scored', 0)}/{done.get('expected') or '?'} samples scored")
                next_line = time.monotonic() + 10
            if report["status"] in ("completed", "failed"):
                return report
            if time.monotonic() > deadline:
                raise _fail(f"{benchmark_id} is still {report['status']} after {timeout:.0f}s", code=EXIT_RUN_FAILED)
            time.sleep(0.5)


SUBMIT_ATTEMPTS = 6
TRANSIENT_STATUSES = frozenset({502, 503, 504})


def post_with_retries(
    client,  # noqa: ANN001 - an httpx.Client
    path: str,
    *,
    json: Any,
    params: dict[str, Any] | None,
    idempotency_key: str,
    attempts: int = SUBMIT_ATTEMPTS,
    sleep: Any = None,
) -> Any:
    """POST with an Idempotency-Key, retried with the same key while the gateway or a backing
    service is away (502/503/504, or no connection), waiting its Retry-After (at most 30 s):
    however often it is sent, it starts one benchmark. The last answer, or error, is the result."""
    import time

    import httpx

    wait = sleep or time.sleep
    for attempt in range(1, attempts + 1):
        try:
            response = client.post(path, json=json, params=params, headers={"Idempotency-Key": idempotency_key})
        except httpx.TransportError:
            if attempt == attempts:
                raise
            delay = min(2.0**attempt, 30.0)
        else:
            if response.status_code not in TRANSIENT_STATUSES or attempt == attempts:
                return response
            retry_after = response.headers.get("Retry-After", "")
            delay = min(float(retry_after) if retry_after.isdigit() else 2.0**attempt, 30.0)
        stderr.print(f"the gateway is unavailable; trying again in {delay:.0f}s (attempt {attempt + 1} of {attempts})")
        wait(delay)
    raise AssertionError("unreachable")


def _transient_failure_as_none(call: Any) -> Any:
    """`call()`'s response, or None when the gateway or its store is away for a moment."""
    import httpx

    try:
        response = call()
    except httpx.TransportError:
        return None
    return None if response.status_code in TRANSIENT_STATUSES else response


def _reason(response) -> str:  # noqa: ANN001
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message") or body.get("detail") or body)


def main() -> None:
    try:
        app()
    except InvalidInput as exc:  # bad input from any command: one clear line, never a traceback
        raise SystemExit(_fail(str(exc)).exit_code) from None
