"""Commands that talk to a gateway over HTTP: submit (with retries, and waiting for the report),
`suite put|list|show|delete`, `keys create|list|revoke`, audit; and `keys bootstrap`, which
writes the first admin key straight into the gateway's database.

Every request goes through `_gateway` (the client that sends $BENCH_API_KEY) and `_accepted`
(a refusal ends the command with exit 2); submissions through `post_with_retries`."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.cli.options import EXIT_NO_BASELINE, EXIT_REGRESSED, EXIT_RUN_FAILED, JsonOption, choices
from services.cli.render import (
    fail,
    print_audit,
    print_comparison,
    print_json,
    print_keys,
    print_report,
    print_suites,
    samples_progress,
    stderr,
    stdout,
)
from services.gateway.roles import Role
from shared.events import ClientTrigger
from shared.settings import Settings
from shared.spec import load_spec

if TYPE_CHECKING:
    import httpx

__all__ = ["SUBMIT_ATTEMPTS", "TRANSIENT_STATUSES", "audit", "keys_app", "post_with_retries", "submit", "suite_app"]

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Gateway URL \\[default: $BENCH_GATEWAY_URL or http://127.0.0.1:8000]")
]

SUBMIT_ATTEMPTS = 6
TRANSIENT_STATUSES = frozenset({502, 503, 504})


# --- HTTP --------------------------------------------------------------------------------------


@contextmanager
def _gateway(url: str | None) -> Iterator[httpx.Client]:
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
        raise fail(f"cannot reach the gateway at {gateway_url}: {exc} (start one with scripts/dev.sh up)") from None


def _call_gateway(url: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to the gateway; a refusal ends the command (exit 2)."""
    with _gateway(url) as client:
        return _accepted(client.request(method, path, **kwargs), f"{method} {path}")


def _print_listing(
    url: str | None, path: str, as_json: bool, table: Callable[[list[dict[str, Any]]], None], **kwargs: Any
) -> None:
    """GET a listing of the gateway (`{"items": [...]}`); its items as JSON, or as `table` prints them."""
    items = _call_gateway(url, "GET", path, **kwargs).json()["items"]
    if as_json:
        print_json(items)
        return
    table(items)


def _accepted(response: httpx.Response, what: str) -> httpx.Response:
    """`response`, unless the gateway refused: then its reason ends the command (exit 2)."""
    if response.status_code == 401:
        raise fail(f"{what}: HTTP 401: {_reason(response)} (set BENCH_API_KEY to a key from `benchmarks keys create`)")
    if response.status_code >= 400:
        raise fail(f"{what}: HTTP {response.status_code}: {_reason(response)}")
    return response


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message") or body.get("detail") or body)


def post_with_retries(
    client: httpx.Client,
    path: str,
    *,
    json: Any,
    params: dict[str, Any] | None,
    idempotency_key: str,
    attempts: int = SUBMIT_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
) -> httpx.Response:
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


def _transient_failure_as_none(call: Callable[[], httpx.Response]) -> httpx.Response | None:
    """`call()`'s response, or None when the gateway or its store is away for a moment."""
    import httpx

    try:
        response = call()
    except httpx.TransportError:
        return None
    return None if response.status_code in TRANSIENT_STATUSES else response


# --- submit ------------------------------------------------------------------------------------


class FailOn(StrEnum):
    never = "never"
    regressed = "regressed"


if TYPE_CHECKING:  # members made at run time (options.choices): to mypy, some StrEnum
    SubmitTrigger = StrEnum
else:
    SubmitTrigger = choices("SubmitTrigger", ClientTrigger)


def submit(
    spec_path: Annotated[
        Path | None, typer.Argument(metavar="[SPEC]", help="Benchmark spec, YAML or JSON (or use --suite).")
    ] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Run this stored suite instead of a spec file.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="With --suite: run only this model (repeatable).")] = None,
    model_config: Annotated[
        list[Path] | None,
        typer.Option(
            "--model-config",
            help="With --suite: a model config file (YAML/JSON) to run instead of the suite's model of that name,"
            " or in addition (repeatable).",
        ),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="With --suite: base URL of the one model run (a candidate deployment).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the report, with a progress bar.")] = False,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="With --wait: exit 3 when the run regressed against the suite's baseline.")
    ] = FailOn.never,
    require_baseline: Annotated[
        bool, typer.Option("--require-baseline", help="With --wait: exit 4 when the suite has no baseline to compare with.")
    ] = False,
    trigger: Annotated[
        SubmitTrigger | None, typer.Option(help="Recorded trigger \\[default: ci when $CI is set, else api].")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why, in words (e.g. the commit under test) \\[default: from the CI environment or $USER].")
    ] = None,
    url: UrlOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the report.")] = 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Send a benchmark (a spec file, or a stored suite's run) to a gateway; local dataset files
    are sent inline. Exit codes: 0 done, 1 run failed or timed out, 2 refused or bad input,
    3 regressed (--fail-on regressed), 4 no baseline (--require-baseline)."""
    if (spec_path is None) == (suite is None):
        raise fail("give a spec file or --suite NAME (one of them)")
    if suite is None and (model or model_config or endpoint):
        raise fail("--model, --model-config and --endpoint go with --suite")
    if not wait and (fail_on is not FailOn.never or require_baseline):
        raise fail("--fail-on and --require-baseline judge the finished run: add --wait")
    # who asks is the API key's name, recorded by the gateway; the reason is the client's own words
    params = {"trigger": trigger.value if trigger else ("ci" if _in_ci() else "api"), "reason": reason or _context()}
    params = {k: v for k, v in params.items() if v is not None}
    if suite is not None:
        path = f"/v1/suites/{suite}/runs"
        body = {
            **params,
            "models": model or None,
            "modelConfigs": [_model_config(p) for p in model_config or []],
            "endpoint": endpoint,
        }
        name, query = suite, None
    else:
        assert spec_path is not None  # exactly one of them, checked above
        spec = load_spec(spec_path)
        body, name, path, query = _inlined(spec, spec_path), spec.name, "/v1/benchmarks", params

    with _gateway(url) as client:
        accepted = _accepted(
            post_with_retries(client, path, json=body, params=query, idempotency_key=str(uuid.uuid4())),
            f"{spec_path or suite}: the gateway refused the benchmark",
        )
        benchmark_id = accepted.json()["benchmarkId"]
        if not wait:
            print_json(accepted.json()) if as_json else stdout.print(benchmark_id)
            return
        report = _wait_for_report(client, benchmark_id, name, timeout)
    if as_json:
        print_json(report)
    else:
        print_report(report)
        if report.get("drift"):
            print_comparison(report["drift"])
    if report["status"] != "completed":
        raise fail(f"{benchmark_id} {report['status']}: {report.get('reason') or 'no reason given'}", code=EXIT_RUN_FAILED)
    verdict = report.get("verdict")
    stderr.print(
        f"{benchmark_id}: {verdict} against the baseline of suite {report['suite']!r}"
        if verdict != "no-baseline"
        else f"{benchmark_id}: suite {report['suite']!r} has no baseline to compare with"
    )
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


def _wait_for_report(client: httpx.Client, benchmark_id: str, name: str, timeout: float) -> dict[str, Any]:
    import time

    progress = samples_progress()
    bar = progress.add_task(f"{name} ({benchmark_id})", total=None)
    deadline = time.monotonic() + timeout
    next_line = time.monotonic()  # without a terminal (a CI log) the bar draws nothing: print lines
    with progress:
        while True:
            response = _transient_failure_as_none(lambda: client.get(f"/v1/benchmarks/{benchmark_id}"))
            if response is None:  # the gateway or its database is away for a moment: keep waiting
                if time.monotonic() > deadline:
                    raise fail(f"{benchmark_id}: the gateway did not answer for {timeout:.0f}s", code=EXIT_RUN_FAILED)
                time.sleep(1.0)
                continue
            report = _accepted(response, f"reading {benchmark_id}").json()
            done = report.get("progress") or {}
            progress.update(bar, completed=done.get("scored", 0), total=done.get("expected"))
            if not stderr.is_terminal and time.monotonic() >= next_line:
                stderr.print(
                    f"{benchmark_id}: {report['status']}, {done.get('scored', 0)}/{done.get('expected') or '?'} samples scored"
                )
                next_line = time.monotonic() + 10
            if report["status"] in ("completed", "failed"):
                return report
            if time.monotonic() > deadline:
                raise fail(f"{benchmark_id} is still {report['status']} after {timeout:.0f}s", code=EXIT_RUN_FAILED)
            time.sleep(0.5)


# --- suites ------------------------------------------------------------------------------------

suite_app = typer.Typer(
    help="Suites stored on a gateway: benchmark templates, optionally re-run on a schedule.", no_args_is_help=True
)


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
    _print_listing(url, "/v1/suites", as_json, print_suites)


@suite_app.command("show")
def suite_show(name: Annotated[str, typer.Argument(metavar="NAME")], url: UrlOption = None) -> None:
    """A suite as stored (JSON)."""
    print_json(_call_gateway(url, "GET", f"/v1/suites/{name}").json())


@suite_app.command("delete")
def suite_delete(name: Annotated[str, typer.Argument(metavar="NAME")], url: UrlOption = None) -> None:
    """Delete a suite and its schedule (its benchmarks and baselines stay)."""
    _call_gateway(url, "DELETE", f"/v1/suites/{name}")
    stdout.print(f"deleted suite {name!r}")


# --- API keys and the audit trail --------------------------------------------------------------

if TYPE_CHECKING:  # members made at run time (options.choices): to mypy, some StrEnum
    RoleChoice = StrEnum
else:
    RoleChoice = choices("RoleChoice", Role)  # the gateway's roles (services/gateway/roles.py), its one home

keys_app = typer.Typer(help="API keys of a gateway: who may read, submit or administer, for which tenant.", no_args_is_help=True)


@keys_app.command("bootstrap")
def keys_bootstrap(
    tenant: Annotated[str, typer.Option(help="The tenant the key administers.")] = "default",
    name: Annotated[str, typer.Option(help="Who holds the key (recorded with everything it does).")] = "admin",
) -> None:
    """Create an admin key directly in the database ($BENCH_MONGO_URL): the first key of a fresh
    install, or of a new tenant. Only whoever can reach the database can do this; the key is
    printed once and stored only as a hash."""
    from services.gateway.api_keys import KeyStore
    from services.gateway.audit import AuditLog
    from shared.events import utc_now
    from shared.results.mongo_store import MongoStore

    async def create() -> str:
        store = await MongoStore.connect(Settings())
        try:
            keys, audit = KeyStore(store.database), AuditLog(store.database)
            await keys.ensure_indexes()
            record, secret = await keys.create(
                tenant=tenant, role="admin", name=name, created_by="operator (database)", now=utc_now()
            )
            await audit.record(
                tenant,
                actor="operator (database)",
                action="key.create",
                target=record.key_id,
                at=record.created_at,
                detail={"name": name, "role": "admin"},
            )
            return secret
        finally:
            await store.close()

    secret = asyncio.run(create())
    stderr.print(f"admin key for tenant {tenant!r} (shown once; export it as BENCH_API_KEY):")
    stdout.print(secret)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Who or what will hold it (e.g. ci-deploys).")],
    role: Annotated[RoleChoice, typer.Option(help="reader: read; submitter: also run; admin: also manage.")] = "reader",  # type: ignore[assignment]
    url: UrlOption = None,
) -> None:
    """Create a key of your own tenant (needs an admin key in $BENCH_API_KEY); printed once."""
    created = _call_gateway(url, "POST", "/v1/keys", json={"name": name, "role": str(role)}).json()
    stderr.print(
        f"{created['role']} key {created['keyId']} for {created['name']!r} of tenant {created['tenant']!r} (shown once):"
    )
    stdout.print(created["key"])


@keys_app.command("list")
def keys_list(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Your tenant's keys (never their secrets)."""
    _print_listing(url, "/v1/keys", as_json, print_keys)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="KEY_ID")], url: UrlOption = None) -> None:
    """Revoke a key at once."""
    _call_gateway(url, "DELETE", f"/v1/keys/{key_id}")
    stdout.print(f"revoked {key_id}")


def audit(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. suite.delete).")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who changed what in your tenant, newest first (needs an admin key)."""
    params = {"limit": limit, **({"action": action} if action else {})}
    _print_listing(url, "/v1/audit", as_json, print_audit, params=params)
