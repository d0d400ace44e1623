"""Composition root of the runner: plans requested benchmarks and runs work shards.

Planning is quick and goes through the usual consume loop (one message at a time). Work shards
go through a ParallelConsumer (shared/parallel_consumer.py): many shards in flight across
benchmarks, models and tenants, in fair-share order, none holding its partition while it waits
for a model.
"""

from __future__ import annotations

import logging
from functools import partial

from faststream.asgi import AsgiFastStream

from services.runner.handlers import RunnerHandlers
from services.runner.models import ModelPool
from services.runner.mongo_state import MongoRunnerState
from services.runner.scheduling import shape_of
from services.runner.telemetry import RunnerTelemetry
from shared import topics
from shared.events import BenchmarkRequested, WorkItem
from shared.logs import OutageLog
from shared.messaging import DeliveryTelemetry, Outgoing, Topics, create_broker, publish, subscribe
from shared.parallel_consumer import ParallelConsumer
from shared.service import worker_app
from shared.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    broker = create_broker(settings, client_id="benchmarks-runner")
    names = Topics(settings)
    state = MongoRunnerState(settings)  # rpm/tpm budgets and the cache, shared by every replica
    telemetry = RunnerTelemetry()
    handlers = RunnerHandlers(
        settings,
        ModelPool(
            budget=state, cache=state, key_bindings=settings.model_keys, outbound=settings.outbound_policy, credentials=state
        ),
        telemetry,
    )
    delivery = DeliveryTelemetry(telemetry.registry)
    subscribe(
        broker,
        names,
        settings,
        topic=topics.BENCHMARKS_REQUESTED,
        group="benchmarks-planner",
        event_type=BenchmarkRequested,
        handler=handlers.on_benchmark_requested,
        service="runner",
        telemetry=delivery,
    )

    async def publish_outgoing(outgoing: Outgoing, headers: dict[str, str] | None) -> None:
        await publish(broker, names, outgoing, headers=headers)

    work: ParallelConsumer[WorkItem] = ParallelConsumer(
        settings,
        topic=topics.BENCHMARKS_WORK,
        topic_name=names.name(topics.BENCHMARKS_WORK),
        group="benchmarks-runner",
        event_type=WorkItem,
        handler=handlers.on_work_item,
        publish_outgoing=publish_outgoing,
        classify=partial(shape_of, priority_triggers=frozenset(settings.priority_triggers)),
        service="runner",
        telemetry=delivery,
        max_in_flight=settings.runner_shards_in_flight,
        max_buffered=settings.runner_buffered_shards,
        max_buffered_bytes=settings.runner_buffered_bytes,
        weights=settings.tenant_weights,
        instance_id=None
        if settings.instance_id is None
        else f"{settings.instance_id}-benchmarks-runner-{topics.BENCHMARKS_WORK}",
        outage=OutageLog(log, what="the runner's backing services (running work)", reminder_s=settings.log_reminder_s),
    )
    telemetry.watch(work)

    async def stop_work() -> None:  # before the broker stops: the shards in flight still publish
        await work.stop(settings.shutdown_timeout_s)

    return worker_app(
        broker,
        settings,
        readiness=[("mongodb", state.ping)],
        registry=telemetry.registry,
        after_startup=[work.start],
        on_shutdown=[stop_work],
        after_shutdown=[handlers.close, state.close],
    )
