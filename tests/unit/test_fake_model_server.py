"""The fake model API server itself: shapes, scripted failures, limits, stats, control."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.model_server import FakeModelServer, RemoteFakeModelServer, echo_last_line
from tests.waiting import wait_for, wait_for_async

ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
QA_PROMPT = "Context: The Eiffel Tower is in Paris.\n\nQuestion: Where is the Eiffel Tower?\n\nAnswer:"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def server(shared_server: FakeModelServer) -> FakeModelServer:
    shared_server.reset()
    return shared_server


def chat_body(content: str = QA_PROMPT, **params: object) -> dict[str, object]:
    return {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
        **params,
    }


def test_echo_last_line_skips_bare_labels_and_strips_them() -> None:
    assert echo_last_line(QA_PROMPT) == "Question: Where is the Eiffel Tower?"
    assert echo_last_line("Summarize.\n\nSome text\nSummary: short one\n\n") == "short one"
    assert echo_last_line("") == ""


async def test_chat_completions_and_legacy_completions(server: FakeModelServer) -> None:
    async with httpx.AsyncClient(base_url=f"{server.url}/v1") as client:
        chat = await client.post("/chat/completions", json=chat_body(), headers={"authorization": "Bearer sk-test"})
        legacy = await client.post("/completions", json={"model": "davinci", "prompt": "one two\nAnswer: three four five"})
    assert chat.status_code == 200
    data = chat.json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-") and data["model"] == "gpt-test"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Question: Where is the Eiffel Tower?"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    prompt_words = 2 + len(QA_PROMPT.split())
    assert data["usage"] == {"prompt_tokens": prompt_words, "completion_tokens": 6, "total_tokens": prompt_words + 6}
    text = legacy.json()
    assert text["object"] == "text_completion" and text["choices"][0]["text"] == "three four five"
    assert text["usage"] == {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}
    assert server.stats().recent[0].headers["authorization"] == "Bearer sk-test"


async def test_anthropic_messages(server: FakeModelServer) -> None:
    body = {
        "model": "claude-test",
        "max_tokens": 2,
        "system": "Label it.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Text: very good film\n\nLabel:"}]}],
    }
    async with httpx.AsyncClient(base_url=server.url) as client:
        ok = await client.post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
        no_key = await client.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    data = ok.json()
    assert data["type"] == "message" and data["id"].startswith("msg_") and data["role"] == "assistant"
    assert data["content"] == [{"type": "text", "text": "Text: very"}]  # cut at max_tokens=2 words
    assert data["stop_reason"] == "max_tokens"
    assert data["usage"] == {"input_tokens": 2 + 5, "output_tokens": 2}
    assert no_key.status_code == 401
    assert no_key.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "x-api-key header is required"},
    }


async def test_scripted_429_with_retry_after_then_success(server: FakeModelServer) -> None:
    server.script({"status": 429, "retry_after": 0.2, "times": 2}, {"status": 503})
    async with httpx.AsyncClient(base_url=f"{server.url}/v1") as client:
        responses = [await client.post("/chat/completions", json=chat_body()) for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 429, 503, 200]
    assert responses[0].headers["retry-after"] == "0.2" and "retry-after" not in responses[2].headers
    assert responses[0].json()["error"]["code"] == "rate_limit_exceeded"
    assert responses[2].json()["error"]["type"] == "server_error"
    assert server.stats().outcomes == {"429": 2, "503": 1, "ok": 1}


async def test_malformed_response_steps(server: FakeModelServer) -> None:
    server.script({"kind": "truncated"}, {"kind": "no_choices"}, {"kind": "html_error", "status": 502})
    async with httpx.AsyncClient(base_url=server.url) as client:
        truncated, empty, html = [
            await client.post(
                "/v1/messages",
                json={"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
                headers=ANTHROPIC_HEADERS,
            )
            for _ in range(3)
        ]
    assert truncated.status_code == 200 and truncated.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        truncated.json()
    assert empty.json()["content"] == []
    assert html.status_code == 502 and html.headers["content-type"] == "text/html" and "<html>" in html.text


async def test_concurrency_limit_rejects_the_extra_requests() -> None:
    # The two served requests sleep until the server stops, so the other three arrive while they
    # are served however slowly the client sends them; stopping the server then answers the two.
    async with FakeModelServer(latency_ms=60_000, concurrency_limit=2, limit_retry_after=0.05) as server:
        async with httpx.AsyncClient(base_url=f"{server.url}/v1", timeout=30) as client:
            posts = [asyncio.create_task(client.post("/chat/completions", json=chat_body())) for _ in range(5)]
            await wait_for_async(
                "three requests refused by the concurrency limit",
                lambda: server.stats().outcomes.get("concurrency_limit") == 3,
                timeout=20,
                detail=lambda: str(server.stats().outcomes),
            )
            await asyncio.to_thread(server.stop)
            responses = await asyncio.gather(*posts)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 429, 429, 429]
        assert all(r.headers["retry-after"] == "0.05" for r in responses if r.status_code == 429)
        stats = server.stats()
        assert stats.requests == 5 and stats.by_endpoint == {"/v1/chat/completions": 5}
        assert stats.max_in_flight >= 3 and stats.in_flight == 0  # a 429 is answered at once, maybe before the next arrives
        assert stats.outcomes == {"ok": 2, "concurrency_limit": 3}
        assert len(stats.arrivals) == 5


async def test_requests_per_minute_budget(server: FakeModelServer) -> None:
    server.configure(requests_per_minute=2)
    async with httpx.AsyncClient(base_url=f"{server.url}/v1") as client:
        responses = [await client.post("/chat/completions", json=chat_body()) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    # Retry-After: until the first request leaves the 60 s window, however long the three took
    arrivals = server.stats().arrivals
    assert float(responses[2].headers["retry-after"]) == pytest.approx(60 - (arrivals[2] - arrivals[0]), abs=0.5)


async def test_timeout_step_ends_when_the_client_gives_up(server: FakeModelServer) -> None:
    server.script({"kind": "timeout", "seconds": 60})
    async with httpx.AsyncClient(base_url=f"{server.url}/v1", timeout=20) as client:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up long before the 60 s step ends
            await client.post("/chat/completions", json=chat_body(), timeout=0.2)
        assert (await client.post("/chat/completions", json=chat_body())).status_code == 200
    # The server notices the disconnect on its own thread, whenever it is scheduled: wait for the
    # sleeping request to end (well before its 60 s), not for any particular order of counters.
    stats = await wait_for_async(
        "the server to count the timed-out request as a disconnect",
        lambda: (stats := server.stats()).disconnects == 1 and stats.in_flight == 0 and stats,
        timeout=20,
        detail=lambda: str(server.stats()),
    )
    assert stats.outcomes == {"timeout": 1, "ok": 1}


async def test_http_control_and_stats(server: FakeModelServer) -> None:
    remote = RemoteFakeModelServer(server.url)
    remote.control(reply_mode="fixed", fixed_reply="forty two", script=[{"status": 500}])
    async with httpx.AsyncClient(base_url=f"{server.url}/v1") as client:
        failed = await client.post("/chat/completions", json=chat_body())
        answered = await client.post("/chat/completions", json=chat_body(seed=7))
    assert failed.status_code == 500
    assert answered.json()["choices"][0]["message"]["content"] == "forty two"
    stats = remote.stats()
    assert stats.requests == 2 and stats.outcomes == {"500": 1, "ok": 1}
    assert stats.last.body["seed"] == 7
    with pytest.raises(ValueError, match="unknown control keys"):
        remote.control(latency=5)
    remote.reset()
    assert remote.stats().requests == 0


def test_stop_does_not_wait_for_sleeping_requests() -> None:
    # The request would sleep 5 minutes; the client gives up after 60 s: a 200 means stop() ended
    # the sleep (and stop() itself raises if its thread has not ended within 10 s).
    with FakeModelServer(latency_ms=300_000) as server, httpx.Client(timeout=60) as client:
        results: list[int] = []
        thread = threading.Thread(
            target=lambda: results.append(
                client.post(f"{server.url}/v1/completions", json={"model": "m", "prompt": "x"}).status_code
            )
        )
        thread.start()
        wait_for("the request to be in flight", lambda: server.stats().in_flight, timeout=20, interval=0.01)
        server.stop()
        thread.join(90)
    assert results == [200]
