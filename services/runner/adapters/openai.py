"""OpenAI-compatible servers: Chat Completions and the legacy Completions API.

Covers hosted OpenAI and every server speaking its protocol (vLLM, Ollama, llama.cpp server,
TGI, LiteLLM proxy, LM Studio, ...): `baseUrl` is the URL the paths below are relative to,
usually ending in /v1.
"""

from __future__ import annotations

from typing import Any

from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.adapters.http import Transport, dig, new_client, post_json, token_count
from shared.spec import ModelConfig

__all__ = ["OpenAIModel"]


class OpenAIModel:
    """`api_key` goes as `Authorization: Bearer` (none: no such header)."""

    def __init__(self, config: ModelConfig, *, api_key: str | None = None, transport: Transport | None = None) -> None:
        self._config = config
        self._client = new_client(config, {"authorization": f"Bearer {api_key}"} if api_key else {}, transport=transport)

    async def generate(self, request: GenerationRequest) -> Completion:
        params = request.params
        body: dict[str, Any] = {
            "model": self._config.model_id,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            body["stop"] = params.stop
        if params.seed is not None:
            body["seed"] = params.seed
        name = self._config.name
        if self._config.api == "chat":
            messages = [{"role": "system", "content": request.system}] if request.system else []
            messages.append({"role": "user", "content": request.prompt})
            answer = await post_json(self._client, "/chat/completions", {**body, "messages": messages}, model=name)
            text = dig(answer, "choices", 0, "message", "content", model=name)
        else:
            prompt = f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
            answer = await post_json(self._client, "/completions", {**body, "prompt": prompt}, model=name)
            text = dig(answer, "choices", 0, "text", model=name)
        usage: dict[str, Any] = answer["usage"] if isinstance(answer.get("usage"), dict) else {}
        return Completion(
            text=text if isinstance(text, str) else "",
            prompt_tokens=token_count(usage.get("prompt_tokens")),
            completion_tokens=token_count(usage.get("completion_tokens")),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
