"""What the HTTP model adapters share: the client, and translating failures into ours.

Every httpx exception and HTTP error status becomes a shared.errors.ModelError here, once; the
pacing layer decides from the error class alone whether to retry. Error messages never carry
request headers (where the API key travels).
"""

from __future__ import annotations

import json
import os
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from shared.errors import (
    ModelConfigError,
    ModelError,
    ModelRequestRejected,
    ModelResponseInvalid,
    ModelUnavailable,
    RateLimited,
)
from shared.outbound import OutboundPolicy, OutboundRefused, connector
from shared.spec import ModelConfig

__all__ = ["api_key", "new_client", "guarded_transport", "post_json", "dig", "token_count"]

USER_AGENT = "continuous-benchmarks/0.1"


def api_key(config: ModelConfig) -> str | None:
    """The key from the environment variable the config names; ModelConfigError if it is unset."""
    if config.api_key_env is None:
        return None
    value = os.environ.get(config.api_key_env)
    if not value:
        raise ModelConfigError(f"model {config.name!r}: the environment variable {config.api_key_env} (apiKeyEnv) is not set")
    return value


def new_client(
    config: ModelConfig, headers: dict[str, str], *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """httpx's API over aiohttp's connection handling: httpcore's pool costs ~2.5 ms of CPU a
    request at 16 connections (measured: 280-400 requests/s on one core, vs ~900 with aiohttp),
    which would make the runner, not the model, the bottleneck (bench/runner_throughput.py)."""
    return httpx.AsyncClient(
        base_url=str(config.base_url).rstrip("/"),
        headers={"user-agent": USER_AGENT, **config.headers, **headers},
        timeout=httpx.Timeout(config.limits.timeout_s, connect=min(10.0, config.limits.timeout_s)),
        # the runner's own limiter bounds concurrency: the pool must not be the tighter bound
        transport=transport or guarded_transport(None),
    )


def guarded_transport(policy: OutboundPolicy | None) -> httpx.AsyncBaseTransport:
    """aiohttp's connections, made only where the outbound policy allows (checked on every
    connection's resolved address; None: anywhere). The runner's own limiter bounds concurrency:
    the pool must not be the tighter bound."""
    return AiohttpTransport(client=lambda: aiohttp.ClientSession(connector=connector(policy, limit=0)))


async def post_json(client: httpx.AsyncClient, path: str, body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """POST and return the decoded JSON body, or raise the ModelError the failure deserves."""
    try:
        response = await client.post(path, json=body)
    except httpx.TransportError as exc:
        raise _transport_failure(exc, model=model, read_timeout=client.timeout.read) from None

    if response.status_code == 429:
        raise RateLimited(
            f"model {model!r}: rate limited (HTTP 429): {_error_text(response)}",
            retry_after_s=_retry_after(response),
        )
    if response.status_code >= 500:
        raise ModelUnavailable(f"model {model!r}: HTTP {response.status_code}: {_error_text(response)}")
    if response.status_code >= 400:
        raise ModelRequestRejected(f"model {model!r}: HTTP {response.status_code}: {_error_text(response)}")
    try:
        decoded = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        # a cut-off body is a transport hiccup more often than a broken server: worth a retry
        raise ModelUnavailable(f"model {model!r}: the response is not valid JSON ({len(response.content)} bytes)") from None
    if not isinstance(decoded, dict):
        raise ModelResponseInvalid(f"model {model!r}: expected a JSON object, got {type(decoded).__name__}")
    return decoded


def _transport_failure(exc: httpx.TransportError, *, model: str, read_timeout: float | None) -> ModelError:
    """What a failed request means: refused by the outbound policy (permanent: retrying is
    futile), else unavailable for now (retryable)."""
    refused = getattr(exc.__cause__, "os_error", None)
    if isinstance(refused, OutboundRefused):
        return ModelRequestRejected(f"model {model!r}: {refused}")
    if isinstance(exc, httpx.ConnectTimeout):  # also what a refused connection maps to
        return ModelUnavailable(f"model {model!r}: cannot connect: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return ModelUnavailable(f"model {model!r}: no answer within {read_timeout}s")
    return ModelUnavailable(f"model {model!r}: {type(exc).__name__}: {exc}")


def dig(body: dict[str, Any], *path: str | int, model: str) -> Any:
    """body[path...], or ModelResponseInvalid naming what is missing."""
    value: Any = body
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            where = ".".join(str(p) for p in path)
            raise ModelResponseInvalid(f"model {model!r}: the response has no {where}") from None
    return value


def token_count(value: object) -> int | None:
    """A usage count from a response, if it is one."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from model APIs; fall back to our own backoff


def _error_text(response: httpx.Response) -> str:
    """The provider's error message if the body is JSON, else the start of the body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = " ".join(response.text.split())
        return (text[:200] + "...") if len(text) > 200 else (text or "(empty body)")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return json.dumps(body)[:300]
