"""Composition root of the scorer: model outputs in, per-sample scores out."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from services.scorer.handlers import on_model_outputs
from shared import topics
from shared.events import ModelOutputs
from shared.messaging import DeliveryTelemetry, Topics, create_broker, subscribe
from shared.service import worker_app
from shared.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    broker = create_broker(settings, client_id="benchmarks-scorer")
    delivery = DeliveryTelemetry()  # the scorer's only metrics: what it dead-letters or skips
    subscribe(
        broker,
        Topics(settings),
        settings,
        topic=topics.BENCHMARKS_OUTPUTS,
        group="benchmarks-scorer",
        event_type=ModelOutputs,
        handler=on_model_outputs,
        service="scorer",
        telemetry=delivery,
    )
    return worker_app(broker, settings, registry=delivery.registry)
