"""The models a runner process calls: one paced adapter per model config, shared by all shards."""

from __future__ import annotations

from services.runner.adapters import ModelAdapter, create_adapter
from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.cache import CachedModel, ResponseCache
from services.runner.pacing import MemoryBudget, PacedModel, RateBudget
from shared.errors import ModelConfigError, ModelRequestRejected
from services.runner.adapters.http import guarded_transport
from shared.key_policy import KeyBindings, key_refusal
from shared.outbound import OutboundPolicy
from shared.spec import ModelConfig

__all__ = ["ModelPool", "UnusableModel"]


class UnusableModel:
    """Stands in for a model that cannot be called as configured (say its key env var is unset
    on this runner): every sample records why, the run goes on, and the report shows it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def generate(self, request: GenerationRequest) -> Completion:
        raise ModelRequestRejected(self.reason)

    async def aclose(self) -> None:
        return None


class ModelPool:
    """`key_bindings`: which environment variables model configs may take keys from, and where
    those keys may go (shared/key_policy.py); `outbound`: where models may be called
    (shared/outbound.py). None (the embedded CLI): no policy."""

    def __init__(
        self,
        *,
        budget: RateBudget | None = None,
        cache: ResponseCache | None = None,
        key_bindings: KeyBindings | None = None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self._budget = budget or MemoryBudget()
        self._cache = cache
        self._key_bindings = key_bindings
        self._outbound = outbound
        self._models: dict[str, ModelAdapter] = {}

    def get(self, config: ModelConfig) -> ModelAdapter:
        key = config.model_dump_json()
        if key not in self._models:
            self._models[key] = self._open(config)
        return self._models[key]

    def check(self, config: ModelConfig) -> None:
        """Raise ModelConfigError now if `config` cannot be called (for up-front checks)."""
        if isinstance(model := self.get(config), UnusableModel):
            raise ModelConfigError(model.reason)

    def _open(self, config: ModelConfig) -> ModelAdapter:
        if (refused := key_refusal(config, self._key_bindings)) is not None:
            return UnusableModel(refused)  # the environment is never read for it
        try:
            adapter = create_adapter(config, transport=guarded_transport(self._outbound) if self._outbound else None)
        except ModelConfigError as exc:
            return UnusableModel(str(exc))
        if config.provider != "builtin":  # built-in models are in-process and instant: nothing to pace
            adapter = PacedModel(adapter, config.limits, budget_key=config.budget_key, budget=self._budget)
        if config.cache and self._cache is not None:
            adapter = CachedModel(adapter, self._cache, config)
        return adapter

    async def close(self) -> None:
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
