"""/v1/keys: an admin creates, lists and revokes the API keys of their own tenant.

A new tenant's first admin key is made by the operator with `benchmarks keys bootstrap`, which
writes to the database directly: no key is ever built in, so a fresh install has no default
password to forget.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import Field

from services.gateway.api_keys import Role
from services.gateway.dependencies import AUTH_RESPONSES, Administering
from services.gateway.schemas import ApiModel
from shared.events import utc_now
from shared.spec import Name

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=AUTH_RESPONSES)


class KeyRequest(ApiModel):
    name: Name
    """Who or what will hold it (a person, `ci-deploys`): recorded as `requestedBy` of its runs."""
    role: Role = "reader"


class ApiKeyInfo(ApiModel):
    key_id: str
    tenant: str
    role: Role
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None


class CreatedKey(ApiKeyInfo):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class KeyList(ApiModel):
    items: list[ApiKeyInfo]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyRequest, gateway: Administering) -> CreatedKey:
    """A new key of the caller's tenant. Its secret is in this response only: keep it."""
    record, secret = await gateway.keys.create(
        tenant=gateway.tenant, role=body.role, name=body.name, created_by=gateway.actor, now=utc_now()
    )
    await gateway.record("key.create", record.key_id, name=record.name, role=record.role)
    return CreatedKey.model_validate({**record.to_json(), "key": secret})


@router.get("")
async def list_keys(gateway: Administering) -> KeyList:
    """The tenant's keys, revoked ones included; never a secret."""
    return KeyList(items=[ApiKeyInfo.model_validate(key.to_json()) for key in await gateway.keys.list(gateway.tenant)])


@router.delete("/{key_id}", responses={404: {"description": "The tenant has no key with this id"}})
async def revoke_key(key_id: str, gateway: Administering) -> ApiKeyInfo:
    """Revoke a key at once, on every gateway. Revoking the key you call with is allowed."""
    record = await gateway.keys.revoke(gateway.tenant, key_id, by=gateway.actor, now=utc_now())
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key_id!r}")
    await gateway.record("key.revoke", key_id, name=record.name)
    return ApiKeyInfo.model_validate(record.to_json())
