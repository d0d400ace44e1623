"""The OpenAI-compatible and Anthropic adapters, paced, against a fake model server over real
HTTP: retries as specified, limits hold on the server side, errors are counted, keys never leak."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from services.runner import pacing
from services.runner.executor import run_work_item
from services.runner.models import ModelPool
from shared.errors import ModelConfigError
from shared.events import Sample, WorkItem
from shared.spec import ModelConfig, TaskSpec
from tests.fakes.model_server import FakeModelServer

SECRET = "sk-test-0123456789abcdef-secret"


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)


def _model(server: FakeModelServer, provider: str = "openai", **extra: Any) -> ModelConfig:
    limits = {"timeoutS": 2, "maxRetries": 3, **extra.pop("limits", {})}
    base_url = f"{server.url}/v1" if provider == "openai" else server.url
    return ModelConfig.model_validate(
        {
            "name": "fake",
            "provider": provider,
            "model": "fake-1",
            "baseUrl": base_url,
            "apiKeyEnv": "FAKE_API_KEY",
            "limits": limits,
            **extra,
        }
    )


def _work(model: ModelConfig, n: int = 4) -> WorkItem:
    task = TaskSpec.model_validate(
        {"name": "qa", "type": "qa", "dataset": "qa.jsonl", "prompt": {"template": "Question: {question}\nAnswer:"}}
    )
    samples = [Sample(id=str(i), inputs={"question": f"q{i}", "context": ""}, references=[f"q{i}"]) for i in range(n)]
    return WorkItem(benchmark_id="bm_t", model=model, task=task, shard=0, samples=samples)


async def _run(model: ModelConfig, n: int = 4):
    pool = ModelPool()
    try:
        return await run_work_item(_work(model, n), pool.get(model, tenant="default"))
    finally:
        await pool.close()


async def test_openai_chat_answers_with_usage_cost_and_the_key_only_in_the_header(server: FakeModelServer) -> None:
    model = _model(server, pricing={"promptPerMillion": 1000, "completionPerMillion": 2000}, params={"seed": 7, "stop": ["\n\n"]})
    outputs = await _run(model, n=2)
    first = outputs.outputs[0]
    # the fake answers with the prompt's line before "Answer:", here "Question: q0"
    assert first.error is None and first.prediction == "Question: q0"
    assert first.prompt_tokens > 0 and first.completion_tokens == 2
    assert first.cost == pytest.approx((first.prompt_tokens * 1000 + first.completion_tokens * 2000) / 1e6)
    request = server.stats().last
    assert request.path == "/v1/chat/completions" and request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.body["model"] == "fake-1" and request.body["seed"] == 7 and request.body["stop"] == ["\n\n"]
    assert request.body["messages"][0]["role"] == "system" and request.body["temperature"] == 0.0
    assert SECRET not in outputs.model_dump_json()


async def test_openai_legacy_completions(server: FakeModelServer) -> None:
    outputs = await _run(_model(server, api="completions"), n=1)
    assert outputs.outputs[0].prediction == "Question: q0" and server.stats().last.path == "/v1/completions"


async def test_anthropic_messages(server: FakeModelServer) -> None:
    outputs = await _run(_model(server, provider="anthropic"), n=1)
    assert outputs.outputs[0].prediction == "Question: q0" and outputs.outputs[0].completion_tokens == 2
    request = server.stats().last
    assert request.path == "/v1/messages" and request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01" and "system" in request.body


async def test_retryable_failures_are_retried_then_succeed(server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "BACKOFF_BASE_S", 0.01)  # the schedule itself is unit-tested; keep this quick
    server.script(
        {"status": 429, "retry_after": 0.05},
        {"status": 429, "retry_after": None},
        {"status": 503},
        {"kind": "truncated"},
        {"kind": "html_error", "status": 502},
        {"kind": "timeout", "seconds": 60},
    )
    # timeoutS 2 (the default here) gives up on the 60 s step; every other answer has 2 s to arrive, busy machine or not
    outputs = await _run(_model(server, limits={"maxRetries": 6, "concurrency": 1}), n=1)
    assert outputs.outputs[0].error is None and outputs.outputs[0].prediction == "Question: q0"
    stats = server.settled_stats()
    assert stats.requests == 7  # six failures, then the answer
    assert stats.outcomes["ok"] == 1


async def test_after_the_retry_budget_the_sample_records_the_error_and_the_run_goes_on(server: FakeModelServer) -> None:
    server.script({"status": 503, "times": 3})
    model = _model(server, limits={"maxRetries": 2, "concurrency": 1})
    [failed] = (await _run(model, n=1)).outputs
    assert failed.error and "HTTP 503" in failed.error and failed.prediction == ""
    assert server.stats().requests == 3  # the first try and two retries
    [ok] = (await _run(model, n=1)).outputs
    assert ok.error is None


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"kind": "no_choices"}, "the response has no choices.0.message.content"),
        ({"status": 400}, "HTTP 400"),
        ({"status": 401}, "HTTP 401"),
    ],
)
async def test_permanent_failures_are_recorded_at_once(server: FakeModelServer, step: dict, expected: str) -> None:
    server.script(step)
    outputs = await _run(_model(server), n=1)
    assert expected in outputs.outputs[0].error and "'fake'" in outputs.outputs[0].error
    assert server.stats().requests == 1


async def test_concurrency_limit_holds_on_the_server_side(server: FakeModelServer) -> None:
    server.configure(latency_ms=20)
    outputs = await _run(_model(server, limits={"concurrency": 3}), n=24)
    assert all(o.error is None for o in outputs.outputs)
    assert server.stats().max_in_flight == 3


async def test_adaptive_concurrency_rides_a_providers_limit(server: FakeModelServer) -> None:
    server.configure(latency_ms=20, concurrency_limit=4, limit_retry_after=0.02)
    model = _model(server, limits={"concurrency": 16, "maxRetries": 20})
    pool = ModelPool()
    paced = pool.get(model, tenant="default")
    outputs = await run_work_item(_work(model, 64), paced)
    assert all(o.error is None for o in outputs.outputs)  # the run rides the limit, it does not fail
    assert paced.concurrency.limit < 16  # and learnt to ask for less
    await pool.close()


async def test_a_missing_key_variable_is_refused_up_front(server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKE_API_KEY")
    pool = ModelPool()
    with pytest.raises(ModelConfigError, match="model 'fake': the environment variable FAKE_API_KEY \\(apiKeyEnv\\) is not set"):
        pool.check(_model(server), tenant="default")
    outputs = await run_work_item(_work(_model(server), 1), pool.get(_model(server), tenant="default"))
    assert "FAKE_API_KEY" in outputs.outputs[0].error and server.stats().requests == 0


async def test_the_key_never_reaches_a_log_line(server: FakeModelServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script({"status": 503}, {"status": 401})
    await _run(_model(server, limits={"maxRetries": 1, "concurrency": 1}), n=2)
    assert caplog.records  # the retry was logged, with the error it retries
    assert all(SECRET not in record.getMessage() for record in caplog.records)


async def test_the_response_cache_answers_identical_prompts(server: FakeModelServer, tmp_path) -> None:
    from shared.results.sqlite_store import SqliteStore

    store = SqliteStore(tmp_path / "s.sqlite3")
    model = _model(server, cache=True)
    for _ in range(2):
        pool = ModelPool(cache=store)
        outputs = await run_work_item(_work(model, 3), pool.get(model, tenant="default"))
        await pool.close()
        assert [o.prediction for o in outputs.outputs] == ["Question: q0", "Question: q1", "Question: q2"]
    assert server.stats().requests == 3  # the second run was answered from the store
    await store.close()


def test_model_config_errors_name_the_model_and_field() -> None:
    from shared.errors import SpecError
    from shared.spec import parse_spec

    def refused(model: dict) -> str:
        with pytest.raises(SpecError) as caught:
            parse_spec({"name": "x", "models": [model], "tasks": [{"name": "t", "type": "qa", "dataset": "d.jsonl"}]})
        return str(caught.value)

    assert "openai models need 'baseUrl'" in refused({"name": "m", "provider": "openai"})
    assert "models[0].provider: Input should be 'builtin', 'openai' or 'anthropic'" in refused(
        {"name": "m", "provider": "cohere"}
    )
    assert "headers.Authorization: keys never travel in a spec" in refused(
        {"name": "m", "provider": "openai", "baseUrl": "http://x/v1", "headers": {"Authorization": "Bearer sk"}}
    )
    assert "apiKeyEnv" in refused({"name": "m", "provider": "openai", "baseUrl": "http://x/v1", "apiKeyEnv": "sk-live key"})


async def test_the_quickstart_with_an_openai_model_runs_end_to_end_and_stores_no_key(
    server: FakeModelServer,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yaml

    from services import embedded
    from shared.results.sqlite_store import SqliteStore
    from shared.settings import Settings
    from shared.spec import load_spec
    from tests.conftest import EXAMPLES

    spec = yaml.safe_load((EXAMPLES / "openai-compatible.yaml").read_text())
    spec["models"][2].update({"baseUrl": f"{server.url}/v1", "apiKeyEnv": "FAKE_API_KEY"})
    for task in spec["tasks"]:
        task["dataset"] = str(EXAMPLES / task["dataset"])
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    server.script({"status": 500, "times": 2})  # retried: the run still completes without errors

    store = SqliteStore(tmp_path / "store.sqlite3")
    report = await embedded.run_benchmark(
        load_spec(tmp_path / "spec.yaml"), base_dir=tmp_path, store=store, settings=Settings(), cache=store
    )
    await store.close()
    assert [row["model"] for row in report["results"]] == ["lead", "extractive", "local-llm"]
    llm = [d for d in report["details"] if d["model"] == "local-llm"]
    assert all(d["errorRate"] == 0.0 and d["tokens"]["completion"] > 0 and d["cost"] == 0.0 for d in llm)
    assert server.stats().requests == 2 + 20 + 20
    qa_prompts = [r.body["messages"][1]["content"] for r in server.stats().recent if "Question:" in str(r.body)]
    assert len(qa_prompts) >= 20 and all(p.count("Context:") == 3 for p in qa_prompts)  # two solved examples first
    assert SECRET.encode() not in (tmp_path / "store.sqlite3").read_bytes()
