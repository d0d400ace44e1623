"""What the service benches share: the real services as subprocesses on loopback, against the
Kafka and FerretDB already running (`eval "$(scripts/services.sh env)"`), each run in its own
topic prefix and database (both deleted at the end), the fake model server in its own process,
API keys per tenant, and HTTP and Kafka helpers in which every wait has a deadline and says
what it waited for.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.gateway.api_keys import KeyStore  # noqa: E402
from shared.events import utc_now  # noqa: E402
from shared.results.mongo_store import MongoStore  # noqa: E402
from shared.settings import Settings  # noqa: E402

__all__ = [
    "CpuUsage",
    "Deployment",
    "Service",
    "bench_settings",
    "cpu_busy",
    "fake_model_server",
    "messages_in",
    "process_cpu_seconds",
    "topic_timestamps",
    "wait_group_stable",
    "wait_until",
]

T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; a TimeoutError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def bench_settings(name: str, **overrides: Any) -> Settings:
    """The deployment's settings from the environment (BENCH_* as the services would read them),
    with a topic prefix and a database of this run only, loopback models allowed, no scheduler."""
    run = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "topic_prefix": f"bench-{name}-{run}.",
        "mongo_database": f"bench_{name}_{run}",
        "outbound_allow": ["127.0.0.0/8"],  # the fake model server
        "scheduler_enabled": False,
    }
    return Settings(**{**Settings().model_dump(), **values, **overrides})


def _environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(map(str, value))
        elif isinstance(value, dict):
            value = json.dumps(value)
        env[f"BENCH_{name.upper()}"] = str(value)
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def fake_model_server(latency_ms: float) -> Iterator[tuple[str, int]]:
    """tests/fakes/model_server.py in a process of its own (not a thread of the bench, whose GIL
    it would share); yields its URL and pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.model_server", "--port", "0", "--latency-ms", str(latency_ms)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None  # piped
        ready, _, _ = select.select([process.stdout], [], [], 30)
        url = process.stdout.readline().strip() if ready else ""
        if not url.startswith("http"):
            raise RuntimeError(f"the fake model server did not print its URL within 30 s: {url!r}")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    last_readiness: str = "nothing yet"

    def log_tail(self, chars: int = 3000) -> str:
        """The end of its log without the readiness probes' access lines (the bench's own polling)."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if '"GET /readyz' not in line)[-chars:]


@dataclass
class Deployment:
    """`benchmarks serve NAME` subprocesses with `settings`; logs in `workdir`."""

    settings: Settings
    workdir: Path
    started: list[Service] = field(default_factory=list)

    def start(self, name: str, *, replicas: int = 1, timeout: float = 90.0, **env: str) -> list[Service]:
        """Start `replicas` of a service at once, then wait until each answers /readyz."""
        launched = []
        for _ in range(replicas):
            port = _free_port()
            instance = f"{name}-{sum(s.name == name for s in self.started)}"
            log_path = self.workdir / f"{instance}.log"
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    [str(Path(sys.executable).parent / "benchmarks"), "serve", name, "--port", str(port)],
                    # a name of its own in its consumer groups, as a StatefulSet's pod name would be
                    env=_environment(self.settings, **{"BENCH_INSTANCE_ID": instance, **env}),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            service = Service(name, f"http://127.0.0.1:{port}", process, log_path)
            self.started.append(service)
            launched.append(service)
        for service in launched:
            try:
                ready = partial(self._ready, service)
                wait_until(f"{service.name} to answer /readyz with 200", ready, timeout=timeout, interval=0.3)
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}; it last answered {service.last_readiness}") from None
        return launched

    @staticmethod
    def _ready(service: Service) -> bool:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n{service.log_tail()}")
        try:
            response = httpx.get(f"{service.url}/readyz", timeout=5)
        except httpx.HTTPError as exc:
            service.last_readiness = repr(exc)
            return False
        service.last_readiness = response.text[:500]
        return response.status_code == 200

    def stop(self, services: list[Service] | None = None) -> None:
        """SIGTERM (they finish what is in flight), SIGKILL after 30 s."""
        stopping = self.started if services is None else services
        for service in stopping:
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in stopping:
            try:
                service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait(timeout=30)
        self.started = [s for s in self.started if s not in stopping]

    def api_key(self, tenant: str) -> str:
        """An admin key of `tenant`, made as `benchmarks keys bootstrap` makes one."""

        async def create() -> str:
            store = await MongoStore.connect(self.settings)
            try:
                _, secret = await KeyStore(store.database).create(
                    tenant=tenant, role="admin", name=f"bench-{tenant}", created_by="bench", now=utc_now()
                )
                return secret
            finally:
                await store.close()

        return asyncio.run(create())

    def delete_data(self) -> None:
        """Drop the run's database and delete its topics (the services are stopped first)."""
        asyncio.run(_delete(self.settings))


async def _delete(settings: Settings) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, serverSelectionTimeoutMS=10_000)
    try:
        await client.drop_database(settings.mongo_database)
    finally:
        await client.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        ours = [topic for topic in await admin.list_topics() if topic.startswith(settings.topic_prefix)]
        if ours:
            await admin.delete_topics(ours, timeout_ms=30_000)
    finally:
        await admin.close()


async def group_members(settings: Settings, group: str) -> tuple[str, int]:
    """(state, members) of consumer group `group` (the prefix is added)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([settings.topic_prefix + group])
        _error, _group_id, state, _protocol_type, _protocol, members, *_ = response.groups[0]
        return state, len(members)
    finally:
        await admin.close()


def wait_group_stable(settings: Settings, group: str, *, members: int, timeout: float = 60.0) -> None:
    """Until `group` is Stable with at least `members` members twice in a row, 1 s apart: a
    rebalance in the middle of a measurement would count as the services' slowness."""
    seen = []

    def stable() -> bool:
        seen.append(asyncio.run(group_members(settings, group)))
        return len(seen) >= 2 and all(state == "Stable" and count >= members for state, count in seen[-2:])

    wait_until(
        f"consumer group {settings.topic_prefix + group} to be Stable with >= {members} members (last: {seen[-1:]})",
        stable,
        timeout=timeout,
        interval=1.0,
    )


def topic_timestamps(
    settings: Settings, topic: str, *, done: Callable[[list[tuple[float, bytes]]], bool], timeout: float
) -> list[tuple[float, bytes]]:
    """(Kafka timestamp in seconds, value) of every message of `topic` from its start, read until
    `done(messages)` holds; a TimeoutError saying how many were read at the deadline."""

    async def read() -> list[tuple[float, bytes]]:
        consumer = AIOKafkaConsumer(
            settings.topic_prefix + topic,
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        messages: list[tuple[float, bytes]] = []
        try:
            deadline = time.monotonic() + timeout
            while not done(messages):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gave up after {timeout:.0f}s reading {topic}: {len(messages)} messages so far")
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    messages += [(r.timestamp / 1000, r.value) for r in records]
        finally:
            await consumer.stop()
        return messages

    return asyncio.run(read())


def messages_in(settings: Settings, topic: str) -> int:
    """How many messages a data topic (work, outputs, scores: `settings.partitions` partitions)
    holds: cheap to poll, where reading the messages would cost the CPU being measured."""

    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            name = settings.topic_prefix + topic
            ends = await consumer.end_offsets([TopicPartition(name, p) for p in range(settings.partitions)])
            return sum(ends.values())
        finally:
            await consumer.stop()

    return asyncio.run(count())


# --------------------------------------------------------------------------- CPU accounting


def cpu_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat), to difference later."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuUsage:
    """CPU used from now on by the whole machine and by some processes (by name), in cores: CPU
    seconds over the machine's elapsed seconds (/proc/stat's, per core)."""

    def __init__(self, processes: dict[str, int]) -> None:
        self._processes = processes
        self._machine = cpu_busy()
        self._start = {name: process_cpu_seconds(pid) for name, pid in processes.items()}
        self._end: dict[str, float] = {}
        self._window = 0.0
        self._busy = 0.0

    def stop(self) -> None:
        busy, total = cpu_busy()
        self._end = {name: process_cpu_seconds(pid) for name, pid in self._processes.items()}
        self._window = (total - self._machine[1]) / (os.cpu_count() or 1)
        self._busy = busy - self._machine[0]

    def seconds(self, name: str) -> float:
        """CPU seconds of process `name` between start and stop."""
        return self._end[name] - self._start[name]

    def cores(self) -> str:
        """Stops the count (once) and says it: "machine 1.92 of 2, runner 0 0.71, ..."."""
        if not self._end:
            self.stop()
        parts = [f"machine {self._busy / self._window:.2f} of {os.cpu_count()}"]
        parts += [f"{name} {self.seconds(name) / self._window:.2f}" for name in self._processes]
        return ", ".join(parts)
