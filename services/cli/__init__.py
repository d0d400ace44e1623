"""The `benchmarks` command line: one typer app, its commands in a module per concern.

On the embedded store (local.py; a SQLite file, no servers):
    benchmarks run SPEC [--store PATH] [--json]   run a benchmark in-process and print the comparison
    benchmarks show ID [--json]                    a stored benchmark's report
    benchmarks list [--suite S] [--model M] [--trigger T] [--status S] [--limit N]
                                                   stored benchmarks, newest first
    benchmarks export ID [--samples] [-o FILE]     a stored report, or its per-sample scores (JSONL)
    benchmarks drift --baseline FILE --current FILE
                                                   paired test of two per-sample score files
    benchmarks compare ID [OTHER] [--tolerance X]  paired tests against the suite's baseline (or OTHER)
    benchmarks baseline set SUITE ID [--model M]   pin a completed benchmark as the suite's baseline
    benchmarks baseline show SUITE                 the benchmark pinned for each model

Against a gateway (gateway.py; $BENCH_GATEWAY_URL, sending $BENCH_API_KEY):
    benchmarks submit SPEC [--wait] [--url URL]    send a benchmark, optionally wait for its report
    benchmarks submit --suite NAME [--model M] [--endpoint URL] --wait --fail-on regressed
                                                   run a stored suite; a CI gate (exit codes 0-4)
    benchmarks suite put FILE                      create or replace a suite (datasets sent inline)
    benchmarks suite list                          suites, their schedules and last scheduled runs
    benchmarks suite show NAME                     a suite as stored (JSON)
    benchmarks suite delete NAME                   delete a suite and its schedule
    benchmarks keys bootstrap [--tenant T]         the first admin key, written to the database directly
    benchmarks keys create NAME [--role R]         a key of your tenant, printed once
    benchmarks keys list                           your tenant's keys (never their secrets)
    benchmarks keys revoke KEY_ID                  revoke a key at once
    benchmarks audit [--action A]                  the tenant's audit trail, newest first (admins)

Offline scoring (scoring.py):
    benchmarks score --input PAIRS.JSONL [--metrics M,...]
                                                   score predictions produced elsewhere

Services (serve.py):
    benchmarks serve gateway|runner|scorer|aggregator
                                                   run one service of the distributed shape

What they print (reports, comparisons, tables, JSON, errors) is in render.py; the `--json`
option, exit codes and choices they share in options.py. Heavy libraries (the stores, httpx,
pymongo, uvicorn, the scorer) are imported inside the commands, so `benchmarks --help` starts
quickly.
"""

from __future__ import annotations

import typer

from services.cli import gateway, local, scoring, serve
from services.cli.render import fail
from shared.errors import InvalidInput

__all__ = ["app", "main"]

app = typer.Typer(
    name="benchmarks",
    help="Benchmark AI models continuously: run suites, compare models, watch for drift.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# In the order `benchmarks --help` lists them
app.command()(local.run)
app.command()(local.show)
app.command(name="list")(local.list_benchmarks)
app.command()(scoring.score)
app.command()(local.export)
app.command()(local.drift)
app.command()(local.compare)
app.command()(gateway.audit)
app.command()(serve.serve)
app.command()(gateway.submit)
app.add_typer(local.baseline_app, name="baseline")
app.add_typer(gateway.suite_app, name="suite")
app.add_typer(gateway.keys_app, name="keys")


def main() -> None:
    try:
        app()
    except InvalidInput as exc:  # bad input from any command: one clear line, never a traceback
        raise SystemExit(fail(str(exc)).exit_code) from None
