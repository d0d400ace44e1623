"""Composition root of the runner: plans requested benchmarks and runs work shards."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from services.runner.handlers import RunnerHandlers
from services.runner.models import ModelPool
from services.runner.mongo_state import MongoRunnerState
from services.runner.telemetry import RunnerTelemetry
from shared import topics
from shared.events import BenchmarkRequested, WorkItem
from shared.messaging import DeliveryTelemetry, Topics, create_broker, subscribe
from shared.service import worker_app
from shared.settings import Settings

__all__ = ["create_app"]


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
    subscribe(
        broker,
        names,
        settings,
        topic=topics.BENCHMARKS_WORK,
        group="benchmarks-runner",
        event_type=WorkItem,
        handler=handlers.on_work_item,
        service="runner",
        telemetry=delivery,
        workers=settings.runner_shards_in_flight,
    )
    return worker_app(
        broker,
        settings,
        readiness=[("mongodb", state.ping)],
        registry=telemetry.registry,
        after_shutdown=[handlers.close, state.close],
    )
