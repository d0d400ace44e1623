"""/v1/suites/{suite}/baseline: pin and read a suite's baseline."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import Field

from services.aggregator.baselines import pin_baseline
from services.gateway.dependencies import GatewayDep
from services.gateway.schemas import ApiModel

router = APIRouter(prefix="/v1/suites", tags=["suites"])


class BaselineRequest(ApiModel):
    benchmark_id: str = Field(min_length=1)
    models: list[str] | None = None
    """Pin only for these models; all the benchmark's models otherwise."""


class Baseline(ApiModel):
    suite: str
    models: dict[str, str]
    """Model -> the benchmark id pinned as its baseline."""


@router.put("/{suite}/baseline", responses={422: {"description": "Unknown or unfinished benchmark, or a model it did not run"}})
async def set_baseline(suite: str, body: BaselineRequest, gateway: GatewayDep) -> Baseline:
    """Pin a completed benchmark as the suite's baseline (for all its models, or those named)."""
    return Baseline(suite=suite, models=await pin_baseline(gateway.store, suite, body.benchmark_id, body.models))


@router.get("/{suite}/baseline", responses={404: {"description": "The suite has no baseline"}})
async def get_baseline(suite: str, gateway: GatewayDep) -> Baseline:
    pinned = await gateway.store.get_baseline(suite)
    if not pinned:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"suite {suite!r} has no baseline")
    return Baseline(suite=suite, models=pinned)
