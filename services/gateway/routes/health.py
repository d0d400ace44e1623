"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.dependencies import GatewayDep
from shared.service import READINESS_TIMEOUT_S

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Kafka or MongoDB does not answer"}})
async def readyz(gateway: GatewayDep) -> JSONResponse:
    """Ready only when Kafka and MongoDB both answer."""
    failures: dict[str, str] = {}
    if not await gateway.broker.ping(READINESS_TIMEOUT_S):
        failures["kafka"] = "no answer from the brokers"
    try:
        await gateway.store.ping()
    except Exception as exc:  # readiness reports any failure, it never raises
        failures["mongodb"] = str(exc)[:300]
    return JSONResponse(
        {"status": "not ready" if failures else "ready", "failures": failures}, status_code=503 if failures else 200
    )
