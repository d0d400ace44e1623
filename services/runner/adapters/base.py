"""The one interface every model adapter implements, built-in or remote."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shared.spec import GenerationParams

__all__ = ["GenerationRequest", "Completion", "ModelAdapter"]


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    task_type: str
    system: str
    prompt: str
    """The rendered prompt: what a remote model receives."""
    inputs: Mapping[str, str]
    """The record's fields, for built-in models that work on structure rather than prose."""
    labels: tuple[str, ...] = ()
    params: GenerationParams = field(default_factory=GenerationParams)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ModelAdapter(Protocol):
    async def generate(self, request: GenerationRequest) -> Completion:
        """Answer one request, or raise a shared.errors.ModelError subclass."""
        ...

    async def aclose(self) -> None: ...
