"""Anthropic's Messages API. `baseUrl` is the API root (the path /v1/messages is added)."""

from __future__ import annotations

from typing import Any

from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.adapters.http import Transport, dig, new_client, post_json, token_count
from shared.errors import ModelResponseInvalid
from shared.spec import ModelConfig

__all__ = ["AnthropicModel", "ANTHROPIC_VERSION"]

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicModel:
    """`api_key` goes as `x-api-key` (none: no such header)."""

    def __init__(self, config: ModelConfig, *, api_key: str | None = None, transport: Transport | None = None) -> None:
        headers = {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": api_key} if api_key else {})}
        self._config = config
        self._client = new_client(config, headers, transport=transport)

    async def generate(self, request: GenerationRequest) -> Completion:
        params = request.params
        body: dict[str, Any] = {
            "model": self._config.model_id,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "messages": [{"role": "user", "content": request.prompt}],
        }
        if request.system:
            body["system"] = request.system
        if params.stop:
            body["stop_sequences"] = params.stop
        name = self._config.name
        answer = await post_json(self._client, "/v1/messages", body, model=name)
        blocks = dig(answer, "content", model=name)
        texts = (
            [b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
            if isinstance(blocks, list)
            else []
        )
        if not texts:
            raise ModelResponseInvalid(f"model {name!r}: the response has no text content")
        usage: dict[str, Any] = answer["usage"] if isinstance(answer.get("usage"), dict) else {}
        return Completion(
            text="".join(texts),
            prompt_tokens=token_count(usage.get("input_tokens")),
            completion_tokens=token_count(usage.get("output_tokens")),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
