"""What route handlers need, as Annotated dependencies opened in the app's lifespan.

Every /v1 route takes the gateway *as its caller*: `Reading`, `Submitting` or `Administering`
authenticate the request's API key, check the key's role, and give the route a Gateway whose
stores are bound to the key's tenant. A route cannot reach another tenant's data by mistake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from fastapi import Depends, Header, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker

from services.gateway.api_keys import ApiKey, KeyStore, Role, may
from services.gateway.audit import AuditLog
from services.gateway.suite_store import SuiteStore
from shared.events import utc_now
from shared.health import HealthMonitor
from shared.messaging import Topics
from shared.results.mongo_store import MongoStore
from shared.settings import Settings

__all__ = [
    "Gateway",
    "Reading",
    "Submitting",
    "Administering",
    "AUTH_RESPONSES",
    "HealthDep",
    "IdempotencyKey",
    "MISSING_KEY",
    "SERVICE",
]

SERVICE = "benchmarks-gateway"
"""The actor of what the gateway does on its own (scheduled runs, deployment events from Kafka)."""


@dataclass(slots=True)
class Gateway:
    settings: Settings
    store: MongoStore
    suites: SuiteStore
    broker: KafkaBroker
    topics: Topics
    keys: KeyStore
    audit: AuditLog
    caller: ApiKey | None = None
    """The key this request came with; None for the gateway's own work."""

    @property
    def tenant(self) -> str:
        return self.store.tenant

    @property
    def actor(self) -> str:
        return self.caller.actor if self.caller else SERVICE

    def for_tenant(self, tenant: str, caller: ApiKey | None = None) -> Gateway:
        """The gateway with every store bound to `tenant` (sharing the same clients)."""
        store = self.store.for_tenant(tenant)
        return dataclasses.replace(self, store=store, suites=SuiteStore(store.database, tenant=tenant), caller=caller)

    async def record(self, action: str, target: str, **detail: object) -> None:
        """Add to the tenant's audit trail, as this request's key (or the gateway itself)."""
        await self.audit.record(self.tenant, actor=self.actor, action=action, target=target, at=utc_now(), detail=detail)


MISSING_KEY = "missing API key: send the header 'Authorization: Bearer <key>'"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (`bk_...`): `benchmarks keys create`, or `benchmarks keys bootstrap` for the first one",
)


async def authenticate(gateway: Gateway, authorization: str | None) -> ApiKey:
    """The key an `Authorization` header presents, or HTTPException 401 saying why not. Run for
    every /v1 request before its body is read (services/gateway/app.py), so a stranger learns
    nothing from how the body would have been judged."""
    if authorization is None:
        _refuse(status.HTTP_401_UNAUTHORIZED, MISSING_KEY)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        _refuse(status.HTTP_401_UNAUTHORIZED, f"the Authorization header is not a bearer key: {MISSING_KEY}")
    verdict = await gateway.keys.verify(token.strip())
    if verdict.key is None:
        _refuse(status.HTTP_401_UNAUTHORIZED, verdict.refusal or "unknown API key")
    return verdict.key


def _as(needed: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Gateway]]:
    """A dependency that checks the authenticated key's role is at least `needed` and binds the
    gateway to its tenant. `credentials` is there for the OpenAPI document (the security scheme):
    the key was authenticated before the body was read."""

    async def caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(_bearer)) -> Gateway:
        gateway: Gateway = request.app.state.gateway
        if not gateway.settings.auth_enabled:
            return gateway.for_tenant(gateway.settings.tenant)
        key: ApiKey | None = getattr(request.state, "api_key", None)
        if key is None:  # not under /v1/: authenticate here
            key = await authenticate(gateway, request.headers.get("authorization"))
        if not may(key.role, needed):
            _refuse(status.HTTP_403_FORBIDDEN, f"API key {key.key_id} has the role {key.role!r}; this needs {needed!r}")
        return gateway.for_tenant(key.tenant, key)

    return caller


def _refuse(code: int, message: str) -> NoReturn:
    headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
    raise HTTPException(code, message, headers=headers)


Reading = Annotated[Gateway, Depends(_as("reader"))]
"""Any valid key: read the tenant's benchmarks, reports, suites and baselines."""
Submitting = Annotated[Gateway, Depends(_as("submitter"))]
"""Submit benchmarks, run suites, post deployments."""
Administering = Annotated[Gateway, Depends(_as("admin"))]
"""Change suites and baselines, manage keys and credentials, read the audit trail."""


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one; `detail` says which"},
    403: {"description": "The API key's role may not do this; `detail` names the role needed"},
}
"""Every /v1 router documents these."""


def _health(request: Request) -> HealthMonitor:
    return request.app.state.health


HealthDep = Annotated[HealthMonitor, Depends(_health)]
"""The background health check /readyz answers from (started in the lifespan)."""


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique printable string (e.g. a UUID): a retry with the same key returns the same"
        " benchmark instead of starting a second one",
    ),
]
