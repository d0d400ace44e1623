"""The models a runner process calls: one paced adapter per tenant and model config, shared by
all of that tenant's shards."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable
from typing import Protocol

from services.runner.adapters import ModelAdapter, create_adapter
from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.adapters.http import api_key, guarded_transport
from services.runner.cache import CachedModel, ResponseCache
from services.runner.pacing import MemoryBudget, PacedModel, RateBudget
from shared.credentials import CredentialRefused
from shared.errors import ModelConfigError, ModelRequestRejected
from shared.key_policy import KeyBindings, key_refusal
from shared.outbound import OutboundPolicy
from shared.spec import ModelConfig

__all__ = ["CredentialSource", "CredentialedModel", "ModelPool", "UnusableModel", "CREDENTIAL_TTL_S"]

CREDENTIAL_TTL_S = 30.0
"""How long a runner uses a resolved credential before looking it up again: a rotated, rebound
or deleted credential takes effect within this."""


class CredentialSource(Protocol):
    """Where a tenant's named credentials come from (shared.credentials.CredentialStore)."""

    async def resolve(self, tenant: str, name: str, base_url: str) -> str:
        """The secret to send to `base_url`, or CredentialRefused saying why not."""
        ...


class UnusableModel:
    """Stands in for a model that cannot be called as configured (say its key env var is unset
    on this runner): every sample records why, the run goes on, and the report shows it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def generate(self, request: GenerationRequest) -> Completion:
        raise ModelRequestRejected(self.reason)

    async def aclose(self) -> None:
        return None


class CredentialedModel:
    """A remote model whose key is its tenant's named credential, resolved again once `ttl_s` has
    passed. While the credential is refused (the tenant has none of that name, it is not bound to
    the model's base URL, the runner has no operator key) every request fails with the reason,
    permanently (no retry); when its secret changes, the next requests go through a new client."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        tenant: str,
        credentials: CredentialSource,
        open_adapter: Callable[[str], ModelAdapter],
        ttl_s: float = CREDENTIAL_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.credential is None or config.base_url is None:
            raise ValueError(f"model {config.name!r} names no credential or no base URL")
        self._config = config
        self._name = config.credential
        self._base_url = config.base_url
        self._tenant = tenant
        self._credentials = credentials
        self._open_adapter = open_adapter
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._expires_at = -math.inf
        self._adapter: ModelAdapter | None = None
        self._digest: str | None = None
        """The SHA-256 of the secret `_adapter` sends: to tell a changed secret, holding no copy."""
        self._refusal: str | None = None
        self._retired: list[ModelAdapter] = []
        """Clients of earlier secrets: requests may still be in flight on them until close."""

    async def generate(self, request: GenerationRequest) -> Completion:
        return await (await self._current()).generate(request)

    async def _current(self) -> ModelAdapter:
        if self._clock() >= self._expires_at:
            async with self._lock:  # one look-up for all the requests that find it stale
                if self._clock() >= self._expires_at:
                    await self._refresh()
        if self._refusal is not None or self._adapter is None:
            raise ModelRequestRejected(self._refusal or f"model {self._config.name!r}: no key")
        return self._adapter

    async def _refresh(self) -> None:
        try:  # a StoreUnavailable propagates (retryable): the shard runs again later
            secret = await self._credentials.resolve(self._tenant, self._name, self._base_url)
        except CredentialRefused as exc:
            self._refusal = f"model {self._config.name!r}: {exc}"
        else:
            digest = hashlib.sha256(secret.encode()).hexdigest()
            if digest != self._digest:
                if self._adapter is not None:
                    self._retired.append(self._adapter)
                self._adapter, self._digest = self._open_adapter(secret), digest
            self._refusal = None
        self._expires_at = self._clock() + self._ttl_s

    async def aclose(self) -> None:
        for adapter in [*self._retired, *([self._adapter] if self._adapter else [])]:
            await adapter.aclose()
        self._retired.clear()
        self._adapter = None


class ModelPool:
    """`key_bindings`: which environment variables model configs may take keys from, and where
    those keys may go (shared/key_policy.py); `outbound`: where models may be called
    (shared/outbound.py). None (the embedded CLI): no policy. `credentials`: the tenants' named
    credentials (the service's store); None (the embedded CLI): a model naming one is unusable.

    Adapters are per tenant and config: two tenants' identical configs never share a key, a
    limiter or a rate budget."""

    def __init__(
        self,
        *,
        budget: RateBudget | None = None,
        cache: ResponseCache | None = None,
        key_bindings: KeyBindings | None = None,
        outbound: OutboundPolicy | None = None,
        credentials: CredentialSource | None = None,
        credential_ttl_s: float = CREDENTIAL_TTL_S,
    ) -> None:
        self._budget = budget or MemoryBudget()
        self._cache = cache
        self._key_bindings = key_bindings
        self._outbound = outbound
        self._credentials = credentials
        self._credential_ttl_s = credential_ttl_s
        self._models: dict[tuple[str, str], ModelAdapter] = {}

    def get(self, config: ModelConfig, *, tenant: str) -> ModelAdapter:
        """The adapter for `tenant`'s model `config` (the work item's tenant: its credentials)."""
        key = (tenant, config.model_dump_json())
        if key not in self._models:
            self._models[key] = self._open(config, tenant)
        return self._models[key]

    def check(self, config: ModelConfig, *, tenant: str) -> None:
        """Raise ModelConfigError now if `config` cannot be called (for up-front checks)."""
        if isinstance(model := self.get(config, tenant=tenant), UnusableModel):
            raise ModelConfigError(model.reason)

    def _open(self, config: ModelConfig, tenant: str) -> ModelAdapter:
        transport = guarded_transport(self._outbound) if self._outbound else None
        adapter: ModelAdapter
        if config.credential is not None:
            if self._credentials is None:
                return UnusableModel(
                    f"model {config.name!r}: credential {config.credential!r}: named credentials need the service;"
                    " use apiKeyEnv locally"
                )
            adapter = CredentialedModel(
                config,
                tenant=tenant,
                credentials=self._credentials,
                ttl_s=self._credential_ttl_s,
                open_adapter=lambda secret: create_adapter(config, api_key=secret, transport=transport),
            )
        else:
            if (refused := key_refusal(config, self._key_bindings)) is not None:
                return UnusableModel(refused)  # the environment is never read for it
            try:
                adapter = create_adapter(config, api_key=api_key(config), transport=transport)
            except ModelConfigError as exc:
                return UnusableModel(str(exc))
        if config.provider != "builtin":  # built-in models are in-process and instant: nothing to pace
            adapter = PacedModel(adapter, config.limits, budget_key=f"{tenant}|{config.budget_key}", budget=self._budget)
        if config.cache and self._cache is not None:
            adapter = CachedModel(adapter, self._cache, config, tenant=tenant)
        return adapter

    async def close(self) -> None:
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
