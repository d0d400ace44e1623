"""An optional response cache: the same model config and the same rendered prompt give the
stored completion instead of a new call. For re-scoring without re-calling; off by default,
since a cache would hide drift (a model that changed behind the same name)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Protocol

from services.runner.adapters.base import Completion, GenerationRequest, ModelAdapter
from shared.spec import ModelConfig

__all__ = ["ResponseCache", "CachedModel", "config_digest", "cache_key"]


class ResponseCache(Protocol):
    """Stored responses as JSON-ready dicts (a Completion's fields): the stores need not know the
    adapters' types (the SQLite store lives in shared/results, the Mongo one in the runner)."""

    async def get_response(self, key: str) -> dict[str, Any] | None: ...

    async def put_response(self, key: str, completion: dict[str, Any]) -> None: ...


def config_digest(config: ModelConfig) -> str:
    """What decides a model's answer: provider, endpoint, model id, API and generation params
    (not the display name, limits, prices or headers)."""
    relevant = config.model_dump(mode="json", include={"provider", "base_url", "model", "api", "params"})
    relevant["model"] = config.model_id
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def cache_key(digest: str, request: GenerationRequest) -> str:
    prompt = hashlib.sha256(json.dumps([request.system, request.prompt]).encode()).hexdigest()
    return f"{digest}:{prompt}"


class CachedModel:
    """Responses stored per tenant: one tenant's runs never answer from another's calls (which
    would tell it what the other asked, and spend the other's provider key)."""

    def __init__(self, adapter: ModelAdapter, cache: ResponseCache, config: ModelConfig, *, tenant: str) -> None:
        self._adapter = adapter
        self._cache = cache
        self._digest = config_digest(config)
        self._tenant = tenant

    async def generate(self, request: GenerationRequest) -> Completion:
        key = f"{self._tenant}|{cache_key(self._digest, request)}"
        if (stored := await self._cache.get_response(key)) is not None:
            return Completion(**stored)
        completion = await self._adapter.generate(request)  # errors are not cached
        await self._cache.put_response(key, dataclasses.asdict(completion))
        return completion

    async def aclose(self) -> None:
        await self._adapter.aclose()
