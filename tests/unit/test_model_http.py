"""The HTTP model client's bounds and translations (services/runner/adapters/http.py), against a
loopback aiohttp server: redirects are refused, response size and time are bounded, and every
failure arrives as the ModelError that says whether to retry."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from services.runner.adapters import http
from services.runner.adapters.http import ModelClient, guarded_transport, post_json
from shared.errors import ModelRequestRejected, ModelResponseInvalid, ModelUnavailable, RateLimited

LIMIT = 10_000


async def _stream(request: web.Request, size: int, pause: float = 0.0) -> web.StreamResponse:
    """`size` bytes in chunks of 1,000, no Content-Length (chunked), `pause` seconds apart."""
    response = web.StreamResponse(headers={"content-type": "application/json"})
    await response.prepare(request)
    for _ in range(size // 1_000):
        await response.write(b" " * 1_000)
        await asyncio.sleep(pause)
    await response.write_eof()
    return response


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"choices": [{"text": "hi"}]})


async def _moved(request: web.Request) -> web.Response:
    # to a loopback URL that answers: were redirects followed, the request would succeed
    return web.Response(status=302, headers={"location": str(request.url.with_path("/ok"))})


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=b" " * (LIMIT + 1), content_type="application/json")


async def _big_chunked(request: web.Request) -> web.StreamResponse:
    return await _stream(request, 3 * LIMIT)


async def _bomb(request: web.Request) -> web.Response:
    """A small gzip body that inflates past the bound."""
    body = gzip.compress(b" " * (3 * LIMIT))
    return web.Response(body=body, headers={"content-type": "application/json", "content-encoding": "gzip"})


async def _drip(request: web.Request) -> web.StreamResponse:
    return await _stream(request, 5_000, pause=0.4)  # every read quick, the whole slow


async def _busy(request: web.Request) -> web.Response:
    return web.json_response({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "0.25"})


def _app() -> web.Application:
    app = web.Application()
    for path, handler in {
        "/ok": _ok,
        "/moved": _moved,
        "/big": _big,
        "/big-chunked": _big_chunked,
        "/bomb": _bomb,
        "/drip": _drip,
        "/busy": _busy,
    }.items():
        app.router.add_post(path, handler)
    return app


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ModelClient]:
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", LIMIT)
    runner = web.AppRunner(_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    model_client = ModelClient(f"http://127.0.0.1:{port}", {}, timeout_s=1.0, transport=guarded_transport(None))
    yield model_client
    await model_client.aclose()
    await runner.cleanup()


async def test_an_answer_is_decoded(client: ModelClient) -> None:
    assert await post_json(client, "/ok", {}, model="m") == {"choices": [{"text": "hi"}]}


async def test_a_redirect_is_refused_not_followed(client: ModelClient) -> None:
    with pytest.raises(ModelRequestRejected, match=r"model 'm': HTTP 302: redirects are not followed"):
        await post_json(client, "/moved", {}, model="m")


@pytest.mark.parametrize("path", ["/big", "/big-chunked", "/bomb"])
async def test_a_response_larger_than_the_bound_is_refused(client: ModelClient, path: str) -> None:
    with pytest.raises(ModelResponseInvalid, match=f"larger than {LIMIT:,} bytes"):
        await post_json(client, path, {}, model="m")


async def test_the_whole_request_is_bounded_in_time_not_each_read(client: ModelClient) -> None:
    with pytest.raises(ModelUnavailable, match=r"model 'm': no answer within 1s") as caught:
        await post_json(client, "/drip", {}, model="m")
    assert caught.value.retryable


async def test_a_429_carries_its_retry_after_and_message(client: ModelClient) -> None:
    with pytest.raises(RateLimited, match="slow down") as caught:
        await post_json(client, "/busy", {}, model="m")
    assert caught.value.retry_after_s == 0.25


async def test_a_closed_port_is_retryable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, not listening: connections are refused
        client = ModelClient(f"http://127.0.0.1:{closed}", {}, timeout_s=5.0, transport=guarded_transport(None))
        try:
            with pytest.raises(ModelUnavailable, match="model 'm': cannot connect") as caught:
                await post_json(client, "/ok", {}, model="m")
        finally:
            await client.aclose()
    assert caught.value.retryable
