"""The gateway's body limit holds for chunked bodies (no Content-Length) too, while they stream in."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from services.gateway.body_limit import BodyLimit


class Body(BaseModel):
    text: str


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, int]:
        return {"length": len(body.text)}

    app.add_middleware(BodyLimit, max_bytes=1_000)
    return app


async def _post(app: FastAPI, content: bytes | None = None, chunks: list[bytes] | None = None) -> httpx.Response:
    async def stream():
        for chunk in chunks or []:
            yield chunk

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        return await client.post(
            "/echo", content=content if content is not None else stream(), headers={"content-type": "application/json"}
        )


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    response = await _post(_app(), content=b'{"text": "' + b"x" * 2_000 + b'"}')
    assert response.status_code == 413 and "at most 1000" in response.json()["detail"]


async def test_a_chunked_body_over_the_limit_is_refused_as_it_streams() -> None:
    chunks = [b'{"text": "'] + [b"x" * 100] * 50 + [b'"}']
    response = await _post(_app(), chunks=chunks)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("the request body has more than 1000 bytes")


async def test_bodies_under_the_limit_pass_chunked_or_not() -> None:
    assert (await _post(_app(), chunks=[b'{"text": "', b"x" * 100, b'"}'])).json() == {"length": 100}
    assert (await _post(_app(), content=b'{"text": "abc"}')).json() == {"length": 3}
