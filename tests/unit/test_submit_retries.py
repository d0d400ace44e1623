"""`benchmarks submit` retries a submission with one Idempotency-Key while the gateway is away."""

from __future__ import annotations

import httpx
import pytest

from services.cli.gateway import post_with_retries


def _client(answers: list) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(base_url="http://gateway.invalid", transport=httpx.MockTransport(handle)), seen


def test_a_submission_is_retried_with_the_same_key_through_503s_and_lost_connections() -> None:
    client, seen = _client(
        [
            httpx.Response(503, headers={"Retry-After": "7"}, json={"detail": "MongoDB did not answer"}),
            httpx.ConnectError("connection refused"),
            httpx.Response(202, json={"benchmarkId": "bm_1"}),
        ]
    )
    waits: list[float] = []
    response = post_with_retries(client, "/v1/benchmarks", json={}, params=None, idempotency_key="k-1", sleep=waits.append)
    assert response.status_code == 202 and response.json()["benchmarkId"] == "bm_1"
    assert [r.headers["Idempotency-Key"] for r in seen] == ["k-1", "k-1", "k-1"]
    assert waits == [7.0, 4.0]  # the gateway's Retry-After, then backoff


def test_a_refusal_is_not_retried_and_retries_are_bounded() -> None:
    client, seen = _client([httpx.Response(422, json={"message": "tasks[0].name: ..."})])
    assert post_with_retries(client, "/p", json={}, params=None, idempotency_key="k", sleep=lambda s: None).status_code == 422
    assert len(seen) == 1

    client, seen = _client([httpx.Response(503)] * 3)
    assert (
        post_with_retries(client, "/p", json={}, params=None, idempotency_key="k", attempts=3, sleep=lambda s: None).status_code
        == 503
    )
    assert len(seen) == 3

    client, seen = _client([httpx.ConnectError("refused")] * 2)
    with pytest.raises(httpx.ConnectError):
        post_with_retries(client, "/p", json={}, params=None, idempotency_key="k", attempts=2, sleep=lambda s: None)
