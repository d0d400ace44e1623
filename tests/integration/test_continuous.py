"""Continuous evaluation on the real servers: schedules (a controllable clock, racing schedulers
on the real database), deployment events over Kafka and HTTP, and the CI gate's exit codes."""

from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.gateway.api_keys import KeyStore
from services.gateway.audit import AuditLog
from services.gateway.dependencies import Gateway
from services.gateway.scheduler import Scheduler
from services.gateway.suite_store import SuiteStore
from shared import topics
from shared.events import DeploymentEvent
from shared.messaging import Topics, create_broker
from shared.results.mongo_store import MongoStore
from shared.results.store import BenchmarkFilter
from shared.settings import Settings
from shared.suites import Suite
from tests.conftest import EXAMPLES
from tests.fakes.model_server import FakeModelServer
from tests.integration.conftest import Kafka, Services
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

RECORDS = [{"id": f"q{i}", "question": f"city number {i}", "answers": [f"Question: city number {i}"]} for i in range(30)]


def nightly_spec(model_url: str) -> dict:
    return {
        "name": "nightly qa",
        "models": [{"name": "prod-llm", "provider": "openai", "baseUrl": f"{model_url}/v1"}],
        "tasks": [
            {"name": "qa", "type": "qa", "dataset": {"records": RECORDS}, "prompt": {"template": "Question: {question}\nAnswer:"}}
        ],
    }


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_two_schedulers_racing_on_the_database_start_each_run_once(settings: Settings, kafka: Kafka, mongo) -> None:
    since = datetime(2026, 11, 18, 12, tzinfo=UTC)  # a Wednesday
    clock = Clock(since)
    gateways = []
    for _ in range(2):  # two gateway replicas: their own clients, the same database and topics
        store = await MongoStore.connect(settings)
        broker = create_broker(settings, client_id="test-scheduler")
        await broker.start()
        gateways.append(
            Gateway(
                settings=settings,
                store=store,
                suites=SuiteStore(store.database, tenant=store.tenant),
                broker=broker,
                topics=Topics(settings),
                keys=KeyStore(store.database),
                audit=AuditLog(store.database),
            )
        )
    try:
        suite = Suite.model_validate(
            {
                "name": "weekly",
                "spec": nightly_spec("http://127.0.0.1:9"),
                "schedule": {"cron": "0 3 * * 1", "timezone": "Europe/Berlin"},
            }
        )
        assert await gateways[0].suites.create(suite, since)
        schedulers = [Scheduler(gateway, clock=clock) for gateway in gateways]

        async def race() -> list[str]:
            started = await asyncio.gather(*(scheduler.tick() for scheduler in schedulers))
            return [benchmark_id for ids in started for benchmark_id in ids]

        clock.now = datetime(2026, 11, 23, 1, 59, tzinfo=UTC)  # 02:59 in Berlin: not due yet
        assert await race() == []
        fired = []
        for minute in range(3):  # due at 03:00 Berlin; both keep ticking past it
            clock.now = datetime(2026, 11, 23, 2, minute, 5, tzinfo=UTC)
            fired += await race()
        assert len(fired) == 1

        clock.now = datetime(2026, 12, 16, 8, tzinfo=UTC)  # down for three Mondays
        caught_up = await race()
        assert len(caught_up) == 1 and await race() == []

        requested = await kafka.read(topics.BENCHMARKS_REQUESTED, count=2)
        assert sorted(r["benchmarkId"] for r in requested) == sorted(fired + caught_up)
        by_id = {r["benchmarkId"]: r for r in requested}
        on_time, late = by_id[fired[0]], by_id[caught_up[0]]
        assert on_time["trigger"] == late["trigger"] == "schedule"
        assert on_time["triggerDetail"].startswith("scheduled: 0 3 * * 1 (Europe/Berlin), due 2026-11-23T03:00:00+01:00")
        assert late["triggerDetail"].startswith(
            "catch-up after downtime: 0 3 * * 1 (Europe/Berlin), due 2026-12-14T03:00:00+01:00"
        )
        assert "2 earlier missed run(s) skipped" in late["triggerDetail"]
        assert all(model["cache"] is False for r in requested for model in r["spec"]["models"])
        stored = await gateways[1].store.list_benchmarks(where=BenchmarkFilter(trigger="schedule"))
        assert {r.benchmark_id for r in stored} == set(fired + caught_up)
        record = await gateways[1].suites.get("weekly")
        assert record.last_benchmark_id == caught_up[0]

        # The starter's record of its run is lost (say its write failed): the next tick of any
        # gateway starts nothing and records the run that holds the occurrence
        await (
            gateways[0]
            .store.database["suites"]
            .update_one(
                {"name": "weekly"}, {"$set": {"lastDueAt": datetime(2026, 11, 23, 2, tzinfo=UTC), "lastBenchmarkId": fired[0]}}
            )
        )
        assert await schedulers[1].tick() == []
        repaired = await gateways[1].suites.get("weekly")
        assert repaired.last_benchmark_id == caught_up[0] and repaired.last_due_at == record.last_due_at
    finally:
        for gateway in gateways:
            await gateway.broker.stop()
            await gateway.store.close()


async def test_suites_schedules_deployments_and_the_ci_gate_end_to_end(
    services: Services, kafka: Kafka, settings: Settings
) -> None:
    for name in ("runner", "scorer", "aggregator"):
        services.start(name)
    gateway = services.start("gateway", BENCH_SCHEDULER_INTERVAL_S="0.5")
    with (
        FakeModelServer() as production,
        FakeModelServer(reply_mode="fixed", fixed_reply="I do not know") as broken,
        gateway.client(timeout=30) as api,
    ):
        # --- suites: CRUD and refusals
        spec = nightly_spec(production.url)
        assert api.post("/v1/suites", json={"name": "nightly", "spec": spec}).status_code == 201
        assert api.post("/v1/suites", json={"name": "nightly", "spec": spec}).status_code == 409
        bad_cron = api.put("/v1/suites/nightly", json={"spec": spec, "schedule": {"cron": "61 * * * *"}})
        assert bad_cron.status_code == 422 and bad_cron.json()["detail"][0]["loc"] == ["body", "schedule", "cron"]
        bad_zone = api.put(
            "/v1/suites/nightly", json={"spec": spec, "schedule": {"cron": "0 3 * * 1", "timezone": "Mars/Olympus"}}
        )
        assert bad_zone.status_code == 422 and "unknown time zone 'Mars/Olympus'" in bad_zone.json()["message"]
        assert api.get("/v1/suites/nope").status_code == 404
        assert api.post("/v1/suites/nope/runs", json={}).status_code == 404
        assert api.delete("/v1/suites/nope").status_code == 404
        assert [s["name"] for s in api.get("/v1/suites").json()["items"]] == ["nightly"]
        cli = CLI(services, gateway.url)
        example = cli.run("suite", "put", str(EXAMPLES / "suites" / "weekly.yaml"))
        assert example.returncode == 0 and example.stdout.startswith("created suite 'weekly'; next run 20"), example.stderr
        weekly = api.get("/v1/suites/weekly").json()
        assert weekly["schedule"] == {"cron": "0 3 * * 1", "timezone": "Europe/Berlin"}
        assert weekly["nextRunAt"].endswith(("T03:00:00+01:00", "T03:00:00+02:00"))
        assert len(weekly["spec"]["tasks"][1]["dataset"]["records"]) > 0  # the local file went inline
        assert "weekly" in cli.run("suite", "list").stdout
        assert cli.run("suite", "delete", "weekly").returncode == 0 and api.get("/v1/suites/weekly").status_code == 404

        # --- the CI gate: exit codes for unchanged, regressed, failed, no baseline
        no_baseline = cli("--suite", "nightly", "--wait", "--fail-on", "regressed", "--require-baseline")
        assert no_baseline.returncode == 4, no_baseline.stderr
        assert "has no baseline" in no_baseline.stderr
        first = _latest(api, trigger="ci")
        assert api.put("/v1/suites/nightly/baseline", json={"benchmarkId": first}).status_code == 200
        unchanged = cli("--suite", "nightly", "--wait", "--fail-on", "regressed")
        assert unchanged.returncode == 0, unchanged.stderr
        assert "unchanged against the baseline of suite 'nightly'" in unchanged.stderr and "exact-match" in unchanged.stdout
        regressed = cli(
            "--suite", "nightly", "--model", "prod-llm", "--endpoint", f"{broken.url}/v1", "--wait", "--fail-on", "regressed"
        )
        assert regressed.returncode == 3, regressed.stderr
        assert "regressed" in regressed.stdout and "regressed against the baseline of suite 'nightly'" in regressed.stderr
        with DatasetServer(RECORDS) as dataset_url:  # there when the suite is stored, gone when it runs
            flaky = {**spec, "tasks": [{**spec["tasks"][0], "dataset": {"url": dataset_url}}]}
            assert api.put("/v1/suites/flaky", json={"spec": flaky}).status_code == 201
        failed = cli("--suite", "flaky", "--wait", "--fail-on", "regressed")
        assert failed.returncode == 1, failed.stderr
        assert "failed: planning failed" in failed.stderr
        assert cli("--suite", "nope", "--wait").returncode == 2

        # --- a schedule fires on the real servers, compared with the baseline
        async with SuiteStoreClient(settings) as suites:  # set just before this minute began: its run is due
            scheduled = Suite.model_validate({"name": "nightly", "spec": spec, "schedule": {"cron": "* * * * *"}})
            await suites.put(scheduled, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(seconds=1))
        by_schedule = _wait_for(api, trigger="schedule")
        assert by_schedule["verdict"] == "unchanged" and by_schedule["drift"]["against"] == {"prod-llm": first}
        assert by_schedule["requestedBy"] == "scheduler" and "* * * * * (UTC), due" in by_schedule["triggerDetail"]
        assert api.get("/v1/suites/nightly").json()["nextRunAt"]
        assert api.put("/v1/suites/nightly", json={"spec": spec}).status_code == 200  # schedule off again

        # --- deployment events: Kafka twice + the webhook once = one run; its verdict is published
        event = DeploymentEvent(model="prod-llm", version="v2", suite="nightly", endpoint=f"{broken.url}/v1", deployed_by="argo")
        await kafka.send(topics.DEPLOYMENTS, event, key="prod-llm")
        await kafka.send(topics.DEPLOYMENTS, event, key="prod-llm")
        verdicts = await kafka.read(
            topics.BENCHMARKS_COMPLETED,
            count=99,
            timeout=60,
            until=lambda got: any((m.get("deployment") or {}).get("version") == "v2" for m in got),
        )
        [verdict] = [m for m in verdicts if (m.get("deployment") or {}).get("version") == "v2"]
        assert verdict["verdict"] == "regressed" and verdict["trigger"] == "deployment" and verdict["requestedBy"] == "argo"
        assert verdict["drift"]["regressed"] is True
        webhook = api.post("/v1/deployments", json=event.model_dump(mode="json", by_alias=True))
        assert webhook.status_code == 200 and webhook.json() == {
            "benchmarkId": verdict["benchmarkId"],
            "duplicate": True,
            "location": f"/v1/benchmarks/{verdict['benchmarkId']}",
        }
        deployed = api.get("/v1/benchmarks", params={"trigger": "deployment"}).json()["items"]
        assert [d["benchmarkId"] for d in deployed] == [verdict["benchmarkId"]]
        assert deployed[0]["deployment"] == {"model": "prod-llm", "version": "v2"}

        v3 = api.post("/v1/deployments", json={**event.model_dump(mode="json", by_alias=True), "version": "v3", "endpoint": None})
        assert v3.status_code == 202 and v3.json()["duplicate"] is False
        assert (
            api.post("/v1/deployments", json={"model": "prod-llm", "suite": "nightly"}).json()["message"]
            == "version: Field required"
        )
        unknown = api.post("/v1/deployments", json={"model": "m", "version": "1", "suite": "nope"})
        assert unknown.status_code == 422 and unknown.json()["message"].startswith("suite: no suite named 'nope'")

        # bad events on Kafka go to the DLQ, the consumer keeps going
        await kafka.send(topics.DEPLOYMENTS, b'{"model": "prod-llm", "suite": "nightly"}')
        await kafka.send(topics.DEPLOYMENTS, b'{"schemaVersion": 2, "model": "prod-llm", "version": "v9", "suite": "nightly"}')
        await kafka.send(topics.DEPLOYMENTS, DeploymentEvent(model="m", version="1", suite="nope"))
        dead = await kafka.read(topics.BENCHMARKS_DLQ, count=3, timeout=30)
        errors = sorted(d["error"] for d in dead)
        assert len(errors) == 3 and all(d["topic"] == topics.DEPLOYMENTS for d in dead)
        assert any("version: Field required" in e for e in errors) and any("schemaVersion" in e for e in errors)
        assert any("no suite named 'nope'" in e for e in errors)

        # --- list filters
        assert {i["trigger"] for i in api.get("/v1/benchmarks", params={"suite": "nightly", "limit": 100}).json()["items"]} == {
            "ci",
            "schedule",
            "deployment",
        }
        assert api.get("/v1/benchmarks", params={"model": "nobody"}).json()["items"] == []
        assert api.get("/v1/benchmarks", params={"trigger": "cron"}).status_code == 422
        assert all(i["status"] == "completed" for i in api.get("/v1/benchmarks", params={"status": "completed"}).json()["items"])


class DatasetServer:
    """Serves one JSONL dataset over HTTP until the `with` block ends."""

    def __init__(self, records: list[dict]) -> None:
        body = "".join(json.dumps(record) + "\n" for record in records).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> str:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/qa.jsonl"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class CLI:
    """`benchmarks submit ...` as a CI job runs it."""

    def __init__(self, services: Services, url: str) -> None:
        self._env = services.env(BENCH_GATEWAY_URL=url, CI="true", GITHUB_REPOSITORY="acme/model", GITHUB_SHA="0123456789abcdef")

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("submit", *args, "--timeout", "120")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        executable = Path(sys.executable).parent / "benchmarks"
        return subprocess.run([str(executable), *args], env=self._env, capture_output=True, text=True, timeout=180)


class SuiteStoreClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def __aenter__(self) -> SuiteStore:
        self._store = await MongoStore.connect(self._settings)
        return SuiteStore(self._store.database, tenant=self._store.tenant)

    async def __aexit__(self, *exc: object) -> None:
        await self._store.close()


def _latest(api: httpx.Client, **filters: str) -> str:
    return api.get("/v1/benchmarks", params={**filters, "limit": 1}).json()["items"][0]["benchmarkId"]


def _wait_for(api: httpx.Client, timeout: float = 120.0, **filters: str) -> dict:
    """The first benchmark matching `filters` to finish, as GET /v1/benchmarks/{id} shows it."""
    last: list[dict] = [{}]

    def finished() -> dict | None:
        items = api.get("/v1/benchmarks", params=filters).json()["items"]
        if not items:
            return None
        last[0] = api.get(f"/v1/benchmarks/{items[-1]['benchmarkId']}").json()
        return last[0] if last[0]["status"] in ("completed", "failed") else None

    def detail() -> str:
        return f"last seen: {last[0].get('benchmarkId')} {last[0].get('status')}" if last[0] else "none listed yet"

    return wait_for(f"a benchmark with {filters} to finish", finished, timeout=timeout, interval=0.5, detail=detail)
