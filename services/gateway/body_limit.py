"""Request bodies bounded while they stream in, whatever the client says their length is.

A Content-Length over the limit is refused before a byte is read; a body sent without one
(chunked) is counted as it arrives and refused the moment it passes the limit, so the gateway
never holds more than the limit in memory.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

__all__ = ["BodyLimit", "body_too_large_message"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def body_too_large_message(max_bytes: int, *, received: str) -> str:
    return f"the request body has {received} bytes; this server accepts at most {max_bytes} (give large datasets as a 'url')"


class _TooLarge(HTTPException):
    """An HTTPException, so that a framework reading the body answers 413 itself (FastAPI turns
    any other error raised while reading a body into a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, body_too_large_message(max_bytes, received=f"more than {max_bytes}"))


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by its Content-Length or as it streams."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1")
        if length.isdigit() and int(length) > self._max_bytes:
            await self._refuse(send, received=length)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_bytes:
                    raise _TooLarge(self._max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, watched_send)
        except _TooLarge:
            if started:  # a response is on its way already: nothing better to say
                raise
            await self._refuse(send, received=f"more than {self._max_bytes}")

    async def _refuse(self, send: Send, *, received: str) -> None:
        body = json.dumps({"detail": body_too_large_message(self._max_bytes, received=received)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
