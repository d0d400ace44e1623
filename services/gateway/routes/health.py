"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.dependencies import Gateway, HealthDep
from shared.health import HealthMonitor
from shared.service import readiness_body, readiness_monitor

__all__ = ["monitor", "router"]

router = APIRouter(tags=["health"])


def monitor(gateway: Gateway) -> HealthMonitor:
    """The background checks /readyz reads: Kafka and MongoDB. Not started: the lifespan does that."""
    return readiness_monitor(gateway.broker, gateway.settings, [("mongodb", gateway.store.ping)])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Kafka or MongoDB does not answer"}})
async def readyz(health: HealthDep) -> JSONResponse:
    """Ready only when Kafka and MongoDB both answered the latest background check: answers at
    once, even while a store hangs."""
    status, body = readiness_body(health)
    return JSONResponse(body, status_code=status)
