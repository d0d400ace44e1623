"""/v1/audit: the tenant's audit trail (keys, suites, baselines, deployments, credentials), for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from services.gateway.dependencies import AUTH_RESPONSES, Administering
from services.gateway.schemas import ApiModel

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=AUTH_RESPONSES)


class AuditEntry(ApiModel):
    at: str
    actor: str
    """The API key's name and id (`ci-deploys (3f2a...)`), or `benchmarks-gateway` for its own work."""
    action: str
    """`key.create`, `key.revoke`, `suite.create`, `suite.replace`, `suite.delete`, `baseline.pin`,
    `deployment`, `credential.put`, `credential.delete`."""
    target: str
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditPage(ApiModel):
    items: list[AuditEntry]
    limit: int
    offset: int


@router.get("")
async def audit_trail(
    gateway: Administering,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    action: Annotated[str | None, Query(max_length=100, description="Only entries of this action")] = None,
) -> AuditPage:
    """Who changed what and when, newest first."""
    entries = await gateway.audit.list(gateway.tenant, limit=limit, offset=offset, action=action)
    return AuditPage(items=[AuditEntry.model_validate(e) for e in entries], limit=limit, offset=offset)
