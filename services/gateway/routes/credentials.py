"""/v1/credentials: an admin stores, lists and deletes the tenant's provider credentials.

A credential is a provider's API key under a name, bound to the base URLs it may be sent to; a
model config names it (`credential`), and the runner sends it to nothing else. The secret goes
in once and never comes out: no route returns it, the audit trail records the name and URLs
only, and it is encrypted at rest with the operator's BENCH_CREDENTIALS_KEY (shared/credentials.py).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import Field, SecretStr, field_validator

from services.gateway.dependencies import AUTH_RESPONSES, Administering, Gateway
from services.gateway.schemas import ApiModel
from services.gateway.validation import RequestProblem
from shared.credentials import MAX_SECRET_BYTES, MAX_URLS, CredentialStore, NoCredentialsKey
from shared.events import utc_now
from shared.outbound import url_refusal

__all__ = ["router", "credential_store"]

router = APIRouter(prefix="/v1/credentials", tags=["credentials"], responses=AUTH_RESPONSES)

CredentialName = Annotated[
    str,
    Path(
        min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f/]+$", description="The name model configs give as `credential`"
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "The tenant has no credential of this name"}}


def credential_store(gateway: Gateway) -> CredentialStore:
    """The credentials in the gateway's database; every call names the caller's tenant."""
    return CredentialStore(gateway.store.database, keys=gateway.settings.credentials_key)


class CredentialRequest(ApiModel):
    secret: SecretStr = Field(min_length=1, max_length=MAX_SECRET_BYTES)
    """The provider's API key: sent as `Authorization: Bearer` (openai) or `x-api-key` (anthropic)."""
    urls: list[Annotated[str, Field(min_length=8, max_length=2000)]] = Field(min_length=1, max_length=MAX_URLS)
    """Base URLs (prefixes) it may be sent to: a model's `baseUrl` must be one of them or below
    one, on the same scheme, host and port (`https://api.openai.com/v1`)."""

    @field_validator("secret")
    @classmethod
    def _header_safe(cls, secret: SecretStr) -> SecretStr:
        if not all("\x21" <= char <= "\x7e" for char in secret.get_secret_value()):
            raise ValueError("a key is printable ASCII without spaces (it travels in an HTTP header)")
        return secret

    @field_validator("urls")
    @classmethod
    def _base_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r}: a base URL starts with http:// or https:// and names a host")
            if parts.username or parts.password or parts.query or parts.fragment:
                raise ValueError(f"{url!r}: a base URL has no user, password, query or fragment")
        if len(set(urls)) != len(urls):
            raise ValueError("a URL is listed twice")
        return urls


class CredentialInfo(ApiModel):
    name: str
    urls: list[str]
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class CredentialList(ApiModel):
    items: list[CredentialInfo]


@router.put(
    "/{name}",
    responses={
        201: {"description": "Created", "model": CredentialInfo},
        409: {"description": "The operator has not set BENCH_CREDENTIALS_KEY: credentials cannot be stored"},
        422: {"description": "A field is missing, of the wrong type, or refused; `detail` says which and why"},
    },
)
async def put_credential(
    name: CredentialName, body: CredentialRequest, gateway: Administering, response: Response
) -> CredentialInfo:
    """Create or replace the tenant's credential `name` (201 created, 200 replaced). Runners pick
    up a replaced or deleted credential within 30 seconds."""
    store = credential_store(gateway)
    try:
        store.require_key()  # before anything else: without the operator's key nothing can be stored
    except NoCredentialsKey as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    for index, url in enumerate(body.urls):  # a URL no runner may call would bind the key to nothing
        if refused := await url_refusal(url, gateway.settings.outbound_policy):
            raise RequestProblem(("body", "urls", index), refused)
    created = await store.put(
        gateway.tenant, name, secret=body.secret.get_secret_value(), urls=body.urls, by=gateway.actor, now=utc_now()
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    await gateway.record("credential.put", name, urls=body.urls, created=created)
    return await _info(store, gateway, name)


@router.get("")
async def list_credentials(gateway: Administering) -> CredentialList:
    """The tenant's credentials: names, URLs and dates, never a secret."""
    items = await credential_store(gateway).list(gateway.tenant)
    return CredentialList(items=[CredentialInfo.model_validate(item.to_json()) for item in items])


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_credential(name: CredentialName, gateway: Administering) -> None:
    """Delete the tenant's credential: models naming it are refused from then on (by runners
    within 30 seconds)."""
    deleted = await credential_store(gateway).delete(gateway.tenant, name)
    if deleted is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no credential {name!r}")
    await gateway.record("credential.delete", name, urls=list(deleted.urls))


async def _info(store: CredentialStore, gateway: Gateway, name: str) -> CredentialInfo:
    stored = await store.get(gateway.tenant, name)
    if stored is None:  # deleted between our write and this read
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no credential {name!r}")
    return CredentialInfo.model_validate(stored.to_json())
