"""Fault injection against real servers: a private Kafka + FerretDB, the four services as
subprocesses, the fake model server, and what "recovered" means.

- `PrivateServers`: a Kafka and a FerretDB of our own (started by `scripts/services.sh up` with
  their own state dir and free loopback ports), so killing or pausing them disturbs no other test.
- `Pipeline`: `Services` (tests/integration/conftest.py) that starts several services at once and
  kills / restarts them by name; the gateway's URL follows a restarted gateway.
- `qa_body`: a QA benchmark of N inline records against the fake model server (which echoes the
  question back, so exact-match is 100).
- `assert_recovered`: the benchmark completes, every sample is scored exactly once, the results
  equal the clean run's, nothing of the test stays pending/running, and a benchmark submitted
  after the fault completes too.

Every wait has a deadline and says what it waited for (tests/waiting.py). Only loopback addresses are used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from shared import topics
from shared.events import (
    BenchmarkPlanned,
    BenchmarkRequested,
    DeploymentEvent,
    ModelOutputs,
    Sample,
    SampleOutput,
    SampleScore,
    SampleScores,
    TaskPlan,
    WorkItem,
)
from shared.results.mongo_store import scores_collection
from shared.settings import Settings
from shared.spec import parse_spec
from tests.fakes.model_server import FakeModelServer
from tests.integration.conftest import RunningService, Services, bearer, free_port, isolated_settings, settings_env
from tests.waiting import wait_for

__all__ = [
    "AFTER_SAMPLES",
    "CONSUMED_BY",
    "SAMPLES",
    "SERVICE_NAMES",
    "Pipeline",
    "Poison",
    "PrivateServers",
    "assert_recovered",
    "assert_settled",
    "benchmarks",
    "clean_report",
    "comparable",
    "count_scores",
    "dead_letter_counts",
    "fake_model",
    "fault_servers",
    "fault_settings",
    "fault_settings_for",
    "get_benchmark",
    "pipeline",
    "planned_event",
    "poisons_for",
    "private_servers",
    "qa_body",
    "settle_timeout",
    "submit",
    "submit_ok",
    "wait_completed",
    "wait_for",
    "note",
    "unmatched",
    "wait_mid_run",
]

REPO = Path(__file__).resolve().parents[2]
SERVICES_SH = REPO / "scripts" / "services.sh"
SERVICE_NAMES = ("runner", "scorer", "aggregator", "gateway")
SAMPLES = 200
"""Samples of the benchmark a fault lands in: at 50 ms a request and 2 in flight, several seconds."""
AFTER_SAMPLES = 48
"""Samples of the benchmark submitted after the fault (only its completion matters)."""
MODEL_CONCURRENCY = 2
HTTP_TIMEOUT_S = 15.0
"""How long a POST may take before we call it hanging (the gateway must answer within seconds)."""
COMPLETION_TIMEOUT_S = 120.0

CONSUMED_BY: dict[str, tuple[str, ...]] = {
    "runner": (topics.BENCHMARKS_REQUESTED, topics.BENCHMARKS_WORK),
    "scorer": (topics.BENCHMARKS_OUTPUTS,),
    "aggregator": (topics.BENCHMARKS_PLANNED, topics.BENCHMARKS_SCORES),
    "gateway": (topics.DEPLOYMENTS,),
}
"""Which service consumes which topic (README, "The distributed shape")."""


# --------------------------------------------------------------------------- waiting


def note(message: str) -> None:
    """A timing line for whoever runs with -s (pytest shows it for failed tests as well)."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}")


# --------------------------------------------------------------------------- private servers


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all bound at once, so never the same one twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _process_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (R, S, T, Z, ...), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


_MARKERS = {"kafka": "kafka.Kafka", "ferretdb": "bench-ferretdb"}


class PrivateServers:
    """A Kafka and a FerretDB of our own, from `scripts/services.sh` with its own state directory
    and free loopback ports; BENCH_KAFKA_BOOTSTRAP / BENCH_MONGO_URL are removed from its
    environment, or the script would only wait for those (shared) servers."""

    def __init__(self, state: Path, *, start_timeout: float = 240.0) -> None:
        self.state = state
        self.kafka_port, self.controller_port, self.mongo_port = _free_ports(3)
        self.start_timeout = start_timeout
        self.env = {k: v for k, v in os.environ.items() if k not in ("BENCH_KAFKA_BOOTSTRAP", "BENCH_MONGO_URL")}
        self.env.update(
            BENCH_SERVICES_STATE=str(state),
            BENCH_KAFKA_PORT=str(self.kafka_port),
            BENCH_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            BENCH_MONGO_PORT=str(self.mongo_port),
            BENCH_PYTHON=sys.executable,  # the health probes' interpreter: this venv's
        )
        self._paused: int | None = None

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    # -- lifecycle

    def up(self) -> None:
        """Start whichever of the two is not running (data kept) and wait until both are healthy."""
        self._script("up", self.start_timeout)

    def down(self) -> None:
        """Stop both and delete their data; a paused FerretDB is resumed first so it can stop."""
        self.resume_mongo()
        self._script("down", 120)

    def ensure_up(self) -> None:
        """Undo what a failed test may have left: a paused FerretDB, a killed server."""
        self.resume_mongo()
        if self.pid("kafka") is None or self.pid("ferretdb") is None:
            self.up()

    def _script(self, command: str, timeout: float) -> None:
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", str(SERVICES_SH), command],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            raise AssertionError(
                f"`services.sh {command}` (state {self.state}) did not finish within {timeout:.0f}s:\n{stderr[-3000:]}"
            ) from None
        if done.returncode != 0:
            raise AssertionError(
                f"`services.sh {command}` (state {self.state}) failed with exit code {done.returncode}:\n{done.stderr[-3000:]}"
            )
        note(f"services.sh {command}: {time.monotonic() - started:.1f}s")

    # -- processes

    def pid(self, name: str) -> int | None:
        """The pid of `name` (kafka | ferretdb) if it runs (a zombie does not), else None."""
        try:
            pid = int((self.state / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        if _process_state(pid) in (None, "Z", "X"):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        return pid if _MARKERS[name] in cmdline else None  # a reused pid is not ours

    def _running_pid(self, name: str) -> int:
        pid = self.pid(name)
        if pid is None:
            raise AssertionError(f"{name} is not running (state {self.state}); see {self.state / (name + '.log')}")
        return pid

    def _kill(self, name: str, port: int) -> None:
        pid = self._running_pid(name)
        if pid == self._paused:
            self._paused = None  # SIGKILL ends a stopped process too
        os.kill(pid, signal.SIGKILL)
        wait_for(f"{name} (pid {pid}) to exit after SIGKILL", lambda: self.pid(name) is None, timeout=30, interval=0.05)
        wait_for(f"{name}'s port {port} to close after SIGKILL", lambda: not _listening(port), timeout=30, interval=0.1)

    def kill_kafka(self) -> None:
        self._kill("kafka", self.kafka_port)

    def restart_kafka(self) -> None:
        self.up()  # `up` starts only what is not running; the data survives (only `down` deletes it)

    def kill_mongo(self) -> None:
        self._kill("ferretdb", self.mongo_port)

    def restart_mongo(self) -> None:
        self.up()  # FerretDB's SQLite files survive a restart

    def pause_mongo(self) -> None:
        pid = self._running_pid("ferretdb")
        os.kill(pid, signal.SIGSTOP)
        self._paused = pid
        wait_for(f"FerretDB (pid {pid}) to stop after SIGSTOP", lambda: _process_state(pid) == "T", timeout=10, interval=0.05)

    def resume_mongo(self) -> None:
        pid, self._paused = self._paused, None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


# --------------------------------------------------------------------------- settings and services


def fault_settings_for(servers: PrivateServers, **overrides: Any) -> Settings:
    """Unique topics and database on the private servers, with short recovery timings."""
    short: dict[str, Any] = {
        "retry_attempts": 3,
        "store_timeout_s": 2,
        "publish_timeout_s": 3,
        "reconcile_interval_s": 2,
        "outbox_grace_s": 3,
        "stall_timeout_s": 20,
        "readiness_interval_s": 1,
        "shutdown_timeout_s": 5,  # a stopped service finishes in-flight work for at most this long
        "scheduler_enabled": False,
        "runner_shards_in_flight": Settings.model_fields["runner_shards_in_flight"].default,  # as deployed
    }
    return isolated_settings(
        kafka_bootstrap=servers.kafka_bootstrap, mongo_url=servers.mongo_url, name="faults", **{**short, **overrides}
    )


def settle_timeout(settings: Settings) -> float:
    """How long an orphan may stay pending/running: the outbox pass, a stall, and a margin."""
    return settings.outbox_grace_s + settings.stall_timeout_s + 3 * settings.reconcile_interval_s + 20


@dataclass
class Pipeline(Services):
    """Services started together (one launch, then one readiness wait each), killed and restarted by name."""

    current: dict[str, RunningService] = field(default_factory=dict)

    def start_all(self, names: Iterable[str] = SERVICE_NAMES, **env: str) -> None:
        started = time.monotonic()
        launched = [self._launch(name, **env) for name in names]
        for service in launched:
            self._wait_ready(service, timeout=90)
        note(f"started {', '.join(s.name for s in launched)} in {time.monotonic() - started:.1f}s")

    def _launch(self, name: str, **env: str) -> RunningService:
        replica = sum(1 for service in self.started if service.name == name)
        port = free_port()
        log_path = self.tmp_path / f"{name}-{replica}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "benchmarks"), "serve", name, "--port", str(port)],
            env=settings_env(self.settings, **env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        service = RunningService(
            name, f"http://127.0.0.1:{port}", process, log_path, log_file, api_key=self.api_key if name == "gateway" else None
        )
        self.started.append(service)
        self.current[name] = service
        return service

    def start_warm(self, fake: FakeModelServer) -> None:
        """Start the four services and run a small benchmark through them: once it completes,
        every stage consumes (the start-up rebalances of the consumer groups are over), so a
        fault injected next lands in a run that is really moving."""
        self.start_all()
        started = time.monotonic()
        warm_up = submit_ok(self, qa_body(fake, 16, name="warm-up"))
        wait_completed(self, warm_up, timeout=90)
        note(f"warm-up benchmark completed in {time.monotonic() - started:.1f}s")

    def kill(self, *names: str) -> None:
        """SIGKILL: no goodbye, nothing in flight is finished or committed."""
        for name in names:
            self.current[name].process.kill()
        for name in names:
            process = self.current[name].process
            wait_for(
                f"{name} (pid {process.pid}) to exit after SIGKILL",
                lambda p=process: p.poll() is not None,
                timeout=30,
                interval=0.05,
            )

    def restart(self, *names: str) -> None:
        self.start_all(names)

    @property
    def gateway(self) -> str:
        return self.current["gateway"].url

    def log_tails(self, chars: int = 4000) -> str:
        return "\n".join(f"----- {s.name} ({s.log_path.name}) -----\n{s.log()[-chars:]}" for s in self.started)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def private_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServers]:
    """Started once for the module, always stopped (and their data deleted), even when a test fails."""
    servers = PrivateServers(tmp_path_factory.mktemp("private-servers"))
    try:
        servers.up()
        yield servers
    finally:
        servers.down()


@pytest.fixture
def fault_servers(private_servers: PrivateServers) -> Iterator[PrivateServers]:
    """The private servers, running and unpaused before the test and resumed after it."""
    private_servers.ensure_up()
    yield private_servers
    private_servers.resume_mongo()


@pytest.fixture
def fault_settings(fault_servers: PrivateServers) -> Settings:
    return fault_settings_for(fault_servers)


@pytest.fixture
def pipeline(fault_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    running = Pipeline(fault_settings, tmp_path)
    yield running
    running.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(running.log_tails())


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeModelServer]:
    with FakeModelServer(latency_ms=50) as fake:
        yield fake


@pytest.fixture(scope="module")
def clean_report(
    private_servers: PrivateServers, fake_model: FakeModelServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The reference: the same benchmark run once with no fault (once per module)."""
    private_servers.ensure_up()
    clean = Pipeline(fault_settings_for(private_servers), tmp_path_factory.mktemp("clean-run"))
    started = time.monotonic()
    try:
        clean.start_all()  # no warm-up: the reference needs no fault to land mid-run
        benchmark_id = submit_ok(clean, qa_body(fake_model, name="clean"))
        report = wait_completed(clean, benchmark_id, timeout=COMPLETION_TIMEOUT_S)
    except BaseException:
        print(clean.log_tails())
        raise
    finally:
        clean.stop_all()
    note(f"clean run of {SAMPLES} samples: {time.monotonic() - started:.1f}s with start-up")
    assert report["results"][0]["qa"]["exact-match"] == 100.0, report["results"]
    return report


# --------------------------------------------------------------------------- benchmarks over HTTP


def qa_body(
    fake: FakeModelServer, samples: int = SAMPLES, *, name: str = "faults", records: list[dict] | None = None
) -> dict[str, Any]:
    """A QA benchmark of `samples` inline records; the fake echoes the question, so exact-match is 100."""
    if records is None:
        records = [{"id": f"q{i}", "question": f"question {i}", "answers": [f"Question: question {i}"]} for i in range(samples)]
    return {
        "name": name,
        "models": [
            {"name": "fake", "provider": "openai", "baseUrl": f"{fake.url}/v1", "limits": {"concurrency": MODEL_CONCURRENCY}}
        ],
        "tasks": [
            {"name": "qa", "type": "qa", "dataset": {"records": records}, "prompt": {"template": "Question: {question}\nAnswer:"}}
        ],
    }


def submit(
    pipeline: Pipeline, body: dict[str, Any], *, key: str | None = None, timeout: float = HTTP_TIMEOUT_S
) -> httpx.Response:
    """POST /v1/benchmarks; an AssertionError if the gateway does not answer within `timeout`."""
    headers = {**bearer(pipeline.api_key), **({"Idempotency-Key": key} if key is not None else {})}
    try:
        return httpx.post(f"{pipeline.gateway}/v1/benchmarks", json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise AssertionError(f"the gateway did not answer POST /v1/benchmarks within {timeout:.0f}s ({exc!r})") from None


def submit_ok(pipeline: Pipeline, body: dict[str, Any], *, key: str | None = None) -> str:
    response = submit(pipeline, body, key=key)
    assert response.status_code == 202, f"POST /v1/benchmarks: {response.status_code} {response.text[:1000]}"
    return response.json()["benchmarkId"]


def get_benchmark(pipeline: Pipeline, benchmark_id: str) -> dict[str, Any]:
    """GET /v1/benchmarks/{id}; on any HTTP trouble a dict saying what went wrong (for polling)."""
    try:
        response = httpx.get(f"{pipeline.gateway}/v1/benchmarks/{benchmark_id}", headers=bearer(pipeline.api_key), timeout=5)
    except httpx.HTTPError as exc:
        return {"status": None, "error": repr(exc)}
    if response.status_code != 200:
        return {"status": None, "error": f"HTTP {response.status_code}: {response.text[:300]}"}
    return response.json()


def _describe(state: dict[str, Any]) -> str:
    if state.get("status") is None:
        return f"last answer: {state.get('error')}"
    return f"last status {state.get('status')!r}, progress {state.get('progress')}, reason {state.get('reason')!r}"


def wait_completed(pipeline: Pipeline, benchmark_id: str, *, timeout: float = COMPLETION_TIMEOUT_S) -> dict[str, Any]:
    """The report once `completed`; fails at once on `failed`, or at the deadline with the last state."""
    last: dict[str, Any] = {}

    def completed() -> dict[str, Any] | None:
        nonlocal last
        last = get_benchmark(pipeline, benchmark_id)
        if last.get("status") == "failed":
            raise AssertionError(f"benchmark {benchmark_id} failed: {last.get('reason')!r} (progress {last.get('progress')})")
        return last if last.get("status") == "completed" else None

    return wait_for(
        f"benchmark {benchmark_id} to complete", completed, timeout=timeout, interval=0.3, detail=lambda: _describe(last)
    )


def wait_mid_run(pipeline: Pipeline, benchmark_id: str, *, min_scored: int = 16, timeout: float = 60) -> dict[str, Any]:
    """Once at least `min_scored` samples are scored: asserts the run is not over yet (a fault must land mid-run)."""
    last: dict[str, Any] = {}

    def started() -> dict[str, Any] | None:
        nonlocal last
        last = get_benchmark(pipeline, benchmark_id)
        return last if (last.get("progress") or {}).get("scored", 0) >= min_scored else None

    began = time.monotonic()
    state = wait_for(
        f"benchmark {benchmark_id} to have {min_scored} samples scored",
        started,
        timeout=timeout,
        interval=0.1,
        detail=lambda: _describe(last),
    )
    progress = state["progress"]
    note(f"mid-run after {time.monotonic() - began:.1f}s: {progress}")
    assert state["status"] != "completed" and progress["scored"] < (progress["expected"] or SAMPLES), (
        f"{benchmark_id} was over before the fault could land mid-run ({_describe(state)}): make the run longer"
    )
    return state


def benchmarks(pipeline: Pipeline, status: str | None = None) -> list[dict[str, Any]]:
    """Every benchmark of the test's database (GET /v1/benchmarks, all pages), optionally of one status."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100, "offset": 0}
    if status is not None:
        params["status"] = status
    while True:
        response = httpx.get(f"{pipeline.gateway}/v1/benchmarks", params=params, headers=bearer(pipeline.api_key), timeout=10)
        assert response.status_code == 200, f"GET /v1/benchmarks {params}: {response.status_code} {response.text[:500]}"
        page = response.json()["items"]
        items += page
        if len(page) < params["limit"]:
            return items
        params["offset"] += params["limit"]


def assert_settled(pipeline: Pipeline, *, timeout: float | None = None) -> None:
    """Within `timeout` no benchmark of the test is `pending` or `running` (orphans included)."""
    unsettled: list[dict[str, Any]] = []

    def settled() -> bool:
        nonlocal unsettled
        try:
            unsettled = benchmarks(pipeline, "pending") + benchmarks(pipeline, "running")
        except (httpx.HTTPError, AssertionError) as exc:
            unsettled = [{"error": repr(exc)}]
            return False
        return not unsettled

    wait_for(
        "no benchmark to remain pending or running",
        settled,
        timeout=timeout if timeout is not None else settle_timeout(pipeline.settings),
        interval=0.5,
        detail=lambda: (
            "still: "
            + ", ".join(
                f"{b.get('benchmarkId')} {b.get('status')} ({b.get('reason')!r})" if "error" not in b else b["error"]
                for b in unsettled
            )
        ),
    )


def count_scores(settings: Settings, benchmark_id: str) -> int:
    """Stored sample scores of a benchmark, counted in MongoDB itself (not through the gateway)."""
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=10_000, timeoutMS=20_000) as client:
        return client[settings.mongo_database][scores_collection(settings.tenant, benchmark_id)].count_documents({})


def comparable(value: Any) -> Any:
    """`value` without latency or cost fields: what must equal across runs, faults or not."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if "latency" not in k.lower() and "cost" not in k.lower()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def assert_recovered(
    pipeline: Pipeline,
    benchmark_id: str,
    clean: dict[str, Any],
    fake: FakeModelServer,
    *,
    samples: int = SAMPLES,
    timeout: float = COMPLETION_TIMEOUT_S,
) -> dict[str, Any]:
    """The benchmark completes, each sample is scored exactly once, the results equal the clean
    run's, a benchmark submitted after the fault completes, and nothing stays pending/running."""
    started = time.monotonic()
    report = wait_completed(pipeline, benchmark_id, timeout=timeout)
    note(f"{benchmark_id} completed {time.monotonic() - started:.1f}s after the fault")
    stored = count_scores(pipeline.settings, benchmark_id)
    assert stored == samples, f"{benchmark_id}: {stored} sample scores stored for {samples} samples"
    assert report["progress"] == {"scored": samples, "expected": samples}, report["progress"]
    assert comparable(report["results"]) == comparable(clean["results"]), (report["results"], clean["results"])
    assert comparable(report["details"]) == comparable(clean["details"]), (report["details"], clean["details"])

    started = time.monotonic()
    after = submit_ok(pipeline, qa_body(fake, AFTER_SAMPLES, name="after-fault"))
    after_report = wait_completed(pipeline, after, timeout=timeout)
    note(f"the benchmark submitted after the fault completed in {time.monotonic() - started:.1f}s")
    assert after_report["results"][0]["qa"]["exact-match"] == 100.0, after_report["results"]
    assert count_scores(pipeline.settings, after) == AFTER_SAMPLES

    started = time.monotonic()
    assert_settled(pipeline)
    note(f"settled in {time.monotonic() - started:.1f}s")
    return report


# --------------------------------------------------------------------------- dead letters


def dead_letter_counts(url: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every `benchmark_messages_dead_lettered_total` sample at `url`/metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, f"GET {url}/metrics: {response.status_code} {response.text[:300]}"
    found = []
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "benchmark_messages_dead_lettered_total":
                found.append((dict(sample.labels), sample.value))
    return found


@dataclass(frozen=True)
class Poison:
    topic: str
    kind: str
    """binary (non-UTF-8, ~900 KB), malformed (not JSON), wrong-field (one field of the wrong shape)."""
    key: str
    payload: bytes
    victim: str | None = None
    """The running benchmark this poison names (it must end `failed`, dead-lettered)."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def matches(self, letter: dict[str, Any]) -> bool:
        """Whether `letter` (a DeadLetter as read from the DLQ) is this poison's."""
        if not str(letter.get("topic", "")).endswith(self.topic):
            return False
        if letter.get("payloadSha256") == self.sha256:
            return True
        return self.kind != "binary" and letter.get("payload") == self.payload.decode()


def planned_event(benchmark_id: str, *, samples: int = 16) -> BenchmarkPlanned:
    """A valid plan: the aggregator marks its benchmark running (and it never gets a score)."""
    return BenchmarkPlanned(
        benchmark_id=benchmark_id,
        name="victim",
        suite="victim",
        models=["fake"],
        tasks=[
            TaskPlan(
                name="qa",
                type="qa",
                dataset="inline",
                dataset_digest="0" * 64,
                samples=samples,
                metrics=["exact-match", "f1-score"],
            )
        ],
        shards=1,
    )


def _wire(event: Any, **changes: Any) -> dict[str, Any]:
    document = json.loads(event.to_wire())
    document.update(changes)
    return document


def poisons_for(fake: FakeModelServer, victims: dict[str, str]) -> list[Poison]:
    """Three poisons for every consumed topic; `victims` maps a topic to the running benchmark
    its wrong-field event names (deployments name no benchmark)."""
    spec = parse_spec(qa_body(fake, 1))
    sample = Sample(id="q0", inputs={"question": "question 0"}, references=["Question: question 0"])
    output = SampleOutput(sample_id="q0", prediction="x", references=["x"], latency_ms=1.0)
    score = SampleScore(sample_id="q0", scores={"exact-match": 100.0}, prediction="x", latency_ms=1.0)

    def wrong_field(topic: str, victim: str) -> tuple[str, dict[str, Any]]:
        if topic == topics.BENCHMARKS_REQUESTED:
            document = _wire(BenchmarkRequested(benchmark_id=victim, spec=spec))
            document["spec"]["tasks"][0]["name"] = "qa\u0000evil"  # NUL: no name, no MongoDB key may hold it
            return victim, document
        if topic == topics.BENCHMARKS_PLANNED:
            return victim, _wire(planned_event(victim), shards="many")
        if topic == topics.BENCHMARKS_WORK:
            item = WorkItem(benchmark_id=victim, model=spec.models[0], task=spec.tasks[0], shard=0, samples=[sample])
            return item.key, _wire(item, shard="zero")
        if topic == topics.BENCHMARKS_OUTPUTS:
            outputs = ModelOutputs(
                benchmark_id=victim, model="fake", task="qa", task_type="qa", metrics=["exact-match"], shard=0, outputs=[output]
            )
            return f"{victim}:fake:qa:0", _wire(outputs, shard="zero")
        if topic == topics.BENCHMARKS_SCORES:
            return victim, _wire(
                SampleScores(benchmark_id=victim, model="fake", task="qa", shard=0, scores=[score]), shard="zero"
            )
        if topic == topics.DEPLOYMENTS:
            return "fake", _wire(DeploymentEvent(model="fake", version="v2", suite="faults"), endpoint="ftp://127.0.0.1/x")
        raise ValueError(topic)

    poisons = []
    for topic in (
        topics.BENCHMARKS_REQUESTED,
        topics.BENCHMARKS_PLANNED,
        topics.BENCHMARKS_WORK,
        topics.BENCHMARKS_OUTPUTS,
        topics.BENCHMARKS_SCORES,
        topics.DEPLOYMENTS,
    ):
        binary = b"\xff\xfe\x80" + os.urandom(900_000 - 3)  # never valid UTF-8
        poisons.append(Poison(topic, "binary", f"poison:{topic}:binary", binary))
        malformed = b'{"schemaVersion": 1, "benchmarkId": "bm_nobody", "cut": ' + topic.encode()
        poisons.append(Poison(topic, "malformed", f"poison:{topic}:malformed", malformed))
        victim = victims.get(topic, "")
        key, document = wrong_field(topic, victim)
        poisons.append(Poison(topic, "wrong-field", key, json.dumps(document).encode(), victims.get(topic)))
    return poisons


def unmatched(poisons: Sequence[Poison], letters: Sequence[dict[str, Any]]) -> list[Poison]:
    return [p for p in poisons if not any(p.matches(letter) for letter in letters)]
