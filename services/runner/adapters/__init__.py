"""Model adapters, one module per provider, chosen by the model config's `provider`."""

from __future__ import annotations

from services.runner.adapters.anthropic import AnthropicModel
from services.runner.adapters.base import Completion, GenerationRequest, ModelAdapter
from services.runner.adapters.builtin import BuiltinModel
from services.runner.adapters.http import Transport
from services.runner.adapters.openai import OpenAIModel
from shared.spec import ModelConfig

__all__ = ["Completion", "GenerationRequest", "ModelAdapter", "create_adapter"]


def create_adapter(config: ModelConfig, *, api_key: str | None = None, transport: Transport | None = None) -> ModelAdapter:
    """The adapter for `config`, sending `api_key` (the caller decides where it comes from: an
    environment variable, a tenant's credential) the way its provider wants it. `transport`
    carries the HTTP requests of remote models (the default connects anywhere)."""
    match config.provider:
        case "builtin":
            return BuiltinModel(config.model_id)
        case "openai":
            return OpenAIModel(config, api_key=api_key, transport=transport)
        case "anthropic":
            return AnthropicModel(config, api_key=api_key, transport=transport)
    raise AssertionError(f"no adapter for provider {config.provider!r}")  # the spec's Literal forbids this
