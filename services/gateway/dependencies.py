"""What route handlers need, as Annotated dependencies opened in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from faststream.kafka import KafkaBroker

from services.aggregator.mongo_store import MongoStore
from services.gateway.suite_store import SuiteStore
from shared.health import HealthMonitor
from shared.messaging import Topics
from shared.settings import Settings

__all__ = ["Gateway", "GatewayDep", "HealthDep", "IdempotencyKey"]


@dataclass(slots=True)
class Gateway:
    settings: Settings
    store: MongoStore
    suites: SuiteStore
    broker: KafkaBroker
    topics: Topics


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _health(request: Request) -> HealthMonitor:
    return request.app.state.health


GatewayDep = Annotated[Gateway, Depends(_gateway)]
HealthDep = Annotated[HealthMonitor, Depends(_health)]
"""The background health check /readyz answers from (started in the lifespan)."""


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="Any unique printable string (e.g. a UUID): a retry with the same key returns the same"
        " benchmark instead of starting a second one",
    ),
]
