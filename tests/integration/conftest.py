"""Integration tests: real Kafka and a real MongoDB-compatible server (FerretDB in CI).

The servers come from `scripts/services.sh up` (scripts/test.sh runs it), or from
BENCH_KAFKA_BOOTSTRAP / BENCH_MONGO_URL. A missing server fails the run with a message
saying how to start it: it never skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from services.gateway.api_keys import KeyStore, Role
from shared.events import Event, utc_now
from shared.results.mongo_store import MongoStore
from shared.settings import Settings
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

KAFKA = os.environ.get("BENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MONGO = os.environ.get("BENCH_MONGO_URL", "mongodb://127.0.0.1:27017/")
HOW_TO_START = "start them with `scripts/services.sh up` (scripts/test.sh does it for you)"


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _mongo_host_port(url: str) -> str:
    rest = url.split("://", 1)[1].split("@")[-1]
    host_port = rest.split("/")[0].split(",")[0].split("?")[0]
    return host_port if ":" in host_port else f"{host_port}:27017"


@pytest.fixture(scope="session", autouse=True)
def servers() -> None:
    """Wait up to 60 s for Kafka and MongoDB; fail (never skip) when they do not answer."""
    missing: list[str] = []

    def reachable() -> bool:
        missing[:] = [
            name
            for name, address in (("Kafka", KAFKA.split(",")[0]), ("MongoDB", _mongo_host_port(MONGO)))
            if not _reachable(address)
        ]
        return not missing

    try:
        wait_for("Kafka and MongoDB to accept connections", reachable, timeout=60, interval=1)
    except AssertionError:
        pytest.fail(f"{' and '.join(missing)} not reachable (Kafka {KAFKA}, MongoDB {MONGO}): {HOW_TO_START}", pytrace=False)


def isolated_settings(
    *, kafka_bootstrap: str = KAFKA, mongo_url: str = MONGO, name: str = "test", **overrides: object
) -> Settings:
    """Unique topics and database, so tests never see each other's messages, with the suite's
    small partition counts and shards; `overrides` win."""
    run = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "kafka_bootstrap": kafka_bootstrap,
        "mongo_url": mongo_url,
        "mongo_database": f"{name}_{run}",
        "topic_prefix": f"{name[0]}{run}.",
        "partitions": 3,
        "control_partitions": 2,
        "shard_size": 16,
        "retry_attempts": 2,
        "outbound_allow": ["127.0.0.0/8", "::1"],  # the fake model server and test datasets are on loopback
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings() -> Settings:
    return isolated_settings()


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncMongoClient]:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    yield client
    await client.drop_database(settings.mongo_database)
    await client.close()


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, list):
            env[f"BENCH_{name.upper()}"] = ",".join(map(str, value))
        elif isinstance(value, dict):
            env[f"BENCH_{name.upper()}"] = json.dumps(value)
        else:
            env[f"BENCH_{name.upper()}"] = str(value)
    env.update(extra)
    return env


def create_api_key(settings: Settings, *, tenant: str = "default", role: Role = "admin", name: str = "test-admin") -> str:
    """A key made as `benchmarks keys bootstrap` makes one, straight in the store (in a thread
    with its own event loop: the caller may be running one)."""

    async def create() -> str:
        store = await MongoStore.connect(settings)
        try:
            _, secret = await KeyStore(store.database).create(
                tenant=tenant, role=role, name=name, created_by="test", now=utc_now()
            )
            return secret
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, create()).result(timeout=60)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningService:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    log_file: IO[bytes]
    api_key: str | None = None
    """A gateway's: an admin key of the default tenant, for the test's requests."""

    def client(self, **options: object) -> httpx.Client:
        """An HTTP client for this service that sends its API key."""
        return httpx.Client(base_url=self.url, headers=bearer(self.api_key) if self.api_key else {}, **options)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Services:
    """Starts `benchmarks serve NAME` subprocesses: the real deployment shape, on loopback."""

    settings: Settings
    tmp_path: Path
    started: list[RunningService] = field(default_factory=list)
    _api_key: str | None = None

    @property
    def api_key(self) -> str:
        """An admin key of the default tenant in the test's database (made once, when first asked for)."""
        if self._api_key is None:
            self._api_key = create_api_key(self.settings)
        return self._api_key

    def env(self, **extra: str) -> dict[str, str]:
        """The services' settings as BENCH_* variables, with the API key the CLI sends."""
        return settings_env(self.settings, BENCH_API_KEY=self.api_key, **extra)

    def start(self, name: str, *, replica: int = 0, **env: str) -> RunningService:
        port = free_port()
        log_path = self.tmp_path / f"{name}-{replica}.log"
        executable = Path(sys.executable).parent / "benchmarks"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [str(executable), "serve", name, "--port", str(port)],
            env=settings_env(self.settings, **env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        service = RunningService(
            name, f"http://127.0.0.1:{port}", process, log_path, log_file, api_key=self.api_key if name == "gateway" else None
        )
        self.started.append(service)
        self._wait_ready(service)
        return service

    def _wait_ready(self, service: RunningService, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if service.process.poll() is not None:
                pytest.fail(f"{service.name} exited with {service.process.returncode}:\n{service.log()[-3000:]}")
            try:
                return httpx.get(f"{service.url}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(
            f"{service.name} to answer /readyz with 200",
            ready,
            timeout=timeout,
            interval=0.3,
            detail=lambda: f"its log ends:\n{service.log()[-3000:]}",
        )

    def stop_all(self) -> None:
        for service in self.started:
            service.process.terminate()
        for service in self.started:
            try:
                service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
            service.log_file.close()


@pytest.fixture
def services(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Services]:
    running = Services(settings, tmp_path)
    yield running
    running.stop_all()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for service in running.started:
            print(f"----- {service.name} log -----\n{service.log()[-5000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class Kafka:
    """Test-side Kafka access: publish raw bytes or events, read what a topic received."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)

    async def __aenter__(self) -> Kafka:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    def topic(self, name: str) -> str:
        return self.settings.topic_prefix + name

    async def send(self, topic: str, value: bytes | Event, key: str = "k") -> None:
        payload = value.to_wire() if isinstance(value, Event) else value
        await self._producer.send_and_wait(self.topic(topic), payload, key=key.encode())

    async def read(
        self,
        topic: str,
        *,
        count: int,
        timeout: float = 30.0,
        until: Callable[[list[dict]], bool] | None = None,
        allow_fewer: bool = False,
    ) -> list[dict]:
        """Read `count` messages (or until `until` holds) from the start of `topic`; an AssertionError
        naming the topic when neither happens within `timeout`, unless `allow_fewer` (then whatever
        arrived: `allow_fewer=True` with `== []` asserts that nothing is published)."""
        consumer = AIOKafkaConsumer(
            self.topic(topic),
            bootstrap_servers=self.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        messages: list[dict] = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while len(messages) < count and not (until and until(messages)):
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    if allow_fewer:
                        break
                    wanted = f"{count} messages" + (" (or the condition given)" if until else "")
                    raise AssertionError(
                        f"timed out after {timeout:g}s waiting for {wanted} on {self.topic(topic)}; got {len(messages)}"
                    )
                batch = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
                for records in batch.values():
                    messages += [json.loads(r.value) | {"_key": r.key.decode() if r.key else None} for r in records]
        finally:
            await consumer.stop()
        return messages


@pytest.fixture
async def kafka(settings: Settings) -> AsyncIterator[Kafka]:
    from shared.service import ensure_topics

    await ensure_topics(settings)
    async with Kafka(settings) as client:
        yield client


def run_to_completion(api: httpx.Client, body: dict, timeout: float = 60.0) -> str:
    """POST a benchmark to a gateway and poll until it completes; its id."""
    benchmark_id = api.post("/v1/benchmarks", json=body).json()["benchmarkId"]
    status = ["not read yet"]

    def completed() -> bool:
        status[0] = api.get(f"/v1/benchmarks/{benchmark_id}").json()["status"]
        return status[0] == "completed"

    wait_for(f"{benchmark_id} to complete", completed, timeout=timeout, interval=0.2, detail=lambda: f"status {status[0]}")
    return benchmark_id
