"""Model adapters, one module per provider, chosen by the model config's `provider`."""

from __future__ import annotations

from services.runner.adapters.base import Completion, GenerationRequest, ModelAdapter
from services.runner.adapters.builtin import BuiltinModel
from shared.spec import ModelConfig

__all__ = ["Completion", "GenerationRequest", "ModelAdapter", "create_adapter"]


def create_adapter(config: ModelConfig) -> ModelAdapter:
    match config.provider:
        case "builtin":
            return BuiltinModel(config.model_id)
    raise AssertionError(f"no adapter for provider {config.provider!r}")  # the spec's Literal forbids this
