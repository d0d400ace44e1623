"""What every worker service has: topics created up front, health and readiness endpoints.

/readyz answers from a HealthMonitor (shared/health.py) that checks Kafka and the service's
stores in the background, so the probe answers at once even while a store hangs.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared.health import Check, HealthMonitor
from shared.kafka_security import client_options, connection_problem
from shared.messaging import Topics, leave_groups_on_stop
from shared.settings import Settings

__all__ = ["ensure_topics", "kafka_check", "readiness_body", "readiness_monitor", "worker_app", "READINESS_TIMEOUT_S"]

log = logging.getLogger(__name__)
READINESS_TIMEOUT_S = 2.0
"""Longest a readiness check may take (less when BENCH_READINESS_INTERVAL_S is shorter); slower is a failure."""


async def ensure_topics(settings: Settings) -> None:
    """Create every topic with its configured partitions before anyone publishes to it.

    Done by every service at start-up: otherwise a producer that starts first could have the
    broker auto-create a topic with its default single partition.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="benchmarks-admin", **client_options(settings)
    )
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        # aiokafka says only "Unable to bootstrap"; one more connection says why (e.g. SASL authentication)
        await admin.close()
        raise KafkaConnectionError(f"unable to bootstrap; {await connection_problem(settings)}") from exc
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in Topics(settings).all() if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service created it between our list and our create
                await admin.create_topics(
                    [NewTopic(t.name, num_partitions=t.num_partitions, replication_factor=t.replication_factor) for t in missing]
                )
            log.info("created topics %s", ", ".join(t.name for t in missing))
    finally:
        await admin.close()


def kafka_check(broker: KafkaBroker, *, timeout_s: float) -> Check:
    """A health check that fails when the brokers do not answer (`ping` says False, never raises)."""

    async def kafka() -> None:
        if not await broker.ping(timeout_s):
            raise ConnectionError("no answer from the brokers")

    return kafka


def readiness_monitor(broker: KafkaBroker, settings: Settings, checks: Sequence[tuple[str, Check]] = ()) -> HealthMonitor:
    """The monitor every service's /readyz reads: Kafka first, then the service's own stores."""
    timeout_s = min(settings.readiness_interval_s, READINESS_TIMEOUT_S)
    return HealthMonitor(
        [("kafka", kafka_check(broker, timeout_s=timeout_s)), *checks],
        interval_s=settings.readiness_interval_s,
        timeout_s=timeout_s,
    )


def readiness_body(monitor: HealthMonitor) -> tuple[int, dict[str, object]]:
    """(HTTP status, JSON body) of /readyz from the monitor's latest round."""
    ready, failures = monitor.snapshot()
    return (200 if ready else 503), {"status": "ready" if ready else "not ready", "failures": failures}


def worker_app(
    broker: KafkaBroker,
    settings: Settings,
    *,
    readiness: Sequence[tuple[str, Check]] = (),
    registry: CollectorRegistry | None = None,
    on_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    after_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    after_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> AsgiFastStream:
    """A FastStream app served over ASGI: /healthz (alive), /readyz (Kafka and the `readiness`
    checks answered in the latest background round) and, given a registry, /metrics for
    Prometheus. `after_startup` runs once the broker is started (it can publish); `on_shutdown`
    before the broker stops (it still can). `after_shutdown` runs after the broker has stopped, i.e. after the messages in
    flight were handled (for up to BENCH_SHUTDOWN_TIMEOUT_S): closing a client earlier would fail them."""
    monitor = readiness_monitor(broker, settings, readiness)

    @get(include_in_schema=False)
    async def healthz(scope: Any) -> AsgiResponse:  # the ASGI scope; Any, as FastStream validates by annotation
        return AsgiResponse(b'{"status":"ok"}', 200, headers={"content-type": "application/json"})

    @get(include_in_schema=False)
    async def readyz(scope: Any) -> AsgiResponse:
        status, body = readiness_body(monitor)
        return AsgiResponse(json.dumps(body).encode(), status, headers={"content-type": "application/json"})

    async def leave_groups() -> None:  # before the broker stops its consumers
        leave_groups_on_stop(broker)

    async def start_monitor() -> None:
        monitor.start()  # after the other start-up hooks: the stores it checks are open by now

    async def create_topics() -> None:
        try:
            await ensure_topics(settings)
        except KafkaError as exc:
            raise SystemExit(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc

    routes = [("/healthz", healthz), ("/readyz", readyz)]
    if registry is not None:

        @get(include_in_schema=False)
        async def metrics(scope: Any) -> AsgiResponse:
            return AsgiResponse(generate_latest(registry), 200, headers={"content-type": CONTENT_TYPE_LATEST})

        routes.append(("/metrics", metrics))

    return AsgiFastStream(
        broker,
        asgi_routes=routes,
        on_startup=[create_topics, *on_startup, start_monitor],
        after_startup=list(after_startup),
        on_shutdown=[*on_shutdown, leave_groups, monitor.stop],
        after_shutdown=list(after_shutdown),
        logger=log,
    )
