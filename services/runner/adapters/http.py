"""What the HTTP model adapters share: the client, and translating failures into ours.

Every aiohttp exception and HTTP error status becomes a shared.errors.ModelError here, once; the
pacing layer decides from the error class alone whether to retry. Error messages never carry
request headers (where the API key travels).

aiohttp directly, not httpx: httpx's request and response models cost more CPU per request than
the whole of aiohttp's (URL parsing, header models, cookies, byte streams), which made the runner,
not the model, the bottleneck against a fast endpoint (bench/runner_throughput.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

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

__all__ = [
    "Transport",
    "ModelClient",
    "api_key",
    "new_client",
    "guarded_transport",
    "post_json",
    "dig",
    "token_count",
    "MAX_RESPONSE_BYTES",
]

USER_AGENT = "continuous-benchmarks/0.1"
MAX_RESPONSE_BYTES = 32_000_000
"""A model's answer is a few kilobytes; a body larger than this is refused, not buffered."""

Transport = Callable[[], aiohttp.BaseConnector]
"""Makes the connections a client's requests travel over (called once per client, inside the
event loop): where the outbound policy is enforced, and a seam for tests."""


def api_key(config: ModelConfig) -> str | None:
    """The key from the environment variable the config names; ModelConfigError if it is unset."""
    if config.api_key_env is None:
        return None
    value = os.environ.get(config.api_key_env)
    if not value:
        raise ModelConfigError(f"model {config.name!r}: the environment variable {config.api_key_env} (apiKeyEnv) is not set")
    return value


def guarded_transport(policy: OutboundPolicy | None) -> Transport:
    """Connections made only where the outbound policy allows (checked on every connection's
    resolved address; None: anywhere). No connection limit: the runner's own limiter bounds
    concurrency, and the pool must not be the tighter bound."""
    return lambda: connector(policy, limit=0)


class ModelClient:
    """One model endpoint: its base URL, the headers every request carries (the key among them),
    and a time bound on each whole request. The aiohttp session is opened on the first request:
    it belongs to the event loop that runs it."""

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout_s: float, transport: Transport) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = headers
        self._transport = transport
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=self._transport(),
                headers=self._headers,
                # whole request, connection included: a server dripping bytes is cut off
                timeout=aiohttp.ClientTimeout(total=self.timeout_s, connect=min(10.0, self.timeout_s)),
                cookie_jar=aiohttp.DummyCookieJar(),  # model APIs need no cookies; none carried between requests
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def new_client(config: ModelConfig, headers: dict[str, str], *, transport: Transport | None = None) -> ModelClient:
    """The client of `config`'s endpoint, sending `headers` besides the config's own."""
    return ModelClient(
        str(config.base_url),
        {"user-agent": USER_AGENT, **config.headers, **headers},
        timeout_s=config.limits.timeout_s,
        transport=transport or guarded_transport(None),
    )


async def post_json(client: ModelClient, path: str, body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """POST and return the decoded JSON body, or raise the ModelError the failure deserves."""
    try:
        async with client.session().post(f"{client.base_url}{path}", json=body, allow_redirects=False) as response:
            status, headers = response.status, response.headers
            content = await _read_bounded(response, model=model)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise _transport_failure(exc, model=model, timeout_s=client.timeout_s) from None

    if status == 429:
        raise RateLimited(
            f"model {model!r}: rate limited (HTTP 429): {_error_text(content)}", retry_after_s=_retry_after(headers)
        )
    if status >= 500:
        raise ModelUnavailable(f"model {model!r}: HTTP {status}: {_error_text(content)}")
    if status >= 400:
        raise ModelRequestRejected(f"model {model!r}: HTTP {status}: {_error_text(content)}")
    if status >= 300:  # a redirect could lead anywhere, and would resend the key: never followed
        raise ModelRequestRejected(
            f"model {model!r}: HTTP {status}: redirects are not followed (set baseUrl to where the API is)"
        )
    try:
        decoded = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        # a cut-off body is a transport hiccup more often than a broken server: worth a retry
        raise ModelUnavailable(f"model {model!r}: the response is not valid JSON ({len(content)} bytes)") from None
    if not isinstance(decoded, dict):
        raise ModelResponseInvalid(f"model {model!r}: expected a JSON object, got {type(decoded).__name__}")
    return decoded


async def _read_bounded(response: aiohttp.ClientResponse, *, model: str) -> bytes:
    """The whole body, or ModelResponseInvalid once it passes MAX_RESPONSE_BYTES (counted after
    decompression, as it streams in)."""
    if response.content_length is not None and response.content_length > MAX_RESPONSE_BYTES:
        raise ModelResponseInvalid(f"model {model!r}: the response is larger than {MAX_RESPONSE_BYTES:,} bytes")
    if response.content_length is not None and "content-encoding" not in response.headers:
        return await response.read()  # as long as it says, no longer: aiohttp holds it to its length
    content = bytearray()
    while chunk := await response.content.readany():
        content += chunk
        if len(content) > MAX_RESPONSE_BYTES:
            raise ModelResponseInvalid(f"model {model!r}: the response is larger than {MAX_RESPONSE_BYTES:,} bytes")
    return bytes(content)


def _transport_failure(exc: TimeoutError | aiohttp.ClientError, *, model: str, timeout_s: float) -> ModelError:
    """What a failed request means: refused by the outbound policy or unsendable (permanent:
    retrying is futile), else unavailable for now (retryable)."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, OutboundRefused):
        return ModelRequestRejected(f"model {model!r}: {exc.os_error}")
    if isinstance(exc, aiohttp.InvalidURL):
        return ModelRequestRejected(f"model {model!r}: invalid URL {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return ModelUnavailable(f"model {model!r}: cannot connect: {exc}")
    if isinstance(exc, TimeoutError):
        return ModelUnavailable(f"model {model!r}: no answer within {timeout_s:g}s")
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


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from model APIs; fall back to our own backoff


def _error_text(content: bytes) -> str:
    """The provider's error message if the body is JSON, else the start of the body."""
    try:
        body = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = " ".join(content.decode("utf-8", "replace").split())
        return (text[:200] + "...") if len(text) > 200 else (text or "(empty body)")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return json.dumps(body)[:300]
