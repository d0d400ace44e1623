"""Model adapters, one module per provider, chosen by the model config's `provider`."""

from __future__ import annotations

from services.runner.adapters.anthropic import AnthropicModel
from services.runner.adapters.base import Completion, GenerationRequest, ModelAdapter
from services.runner.adapters.builtin import BuiltinModel
from services.runner.adapters.openai import OpenAIModel
from shared.spec import ModelConfig

__all__ = ["Completion", "GenerationRequest", "ModelAdapter", "create_adapter"]


def create_adapter(config: ModelConfig) -> ModelAdapter:
    """The adapter for `config`; ModelConfigError if it cannot be called (e.g. its key is unset)."""
    match config.provider:
        case "builtin":
            return BuiltinModel(config.model_id)
        case "openai":
            return OpenAIModel(config)
        case "anthropic":
            return AnthropicModel(config)
    raise AssertionError(f"no adapter for provider {config.provider!r}")  # the spec's Literal forbids this
