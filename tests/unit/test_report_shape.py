"""The report's JSON is pinned: what the embedded runtime returns (and `benchmarks run --json`
prints), what GET /v1/benchmarks/{id} and GET /v1/benchmarks/{id}/compare answer, a report's
`drift` section and the BenchmarkCompleted event. Keys, their order, JSON types, and for the
deterministic quickstart the exact numbers. The gateway's routes run here on the SQLite store
(the same JSON over FerretDB and Kafka: tests/integration/test_report_wire.py). The OpenAPI
document describes both answers (the report models of shared/results/models.py and report.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services import embedded
from services.gateway.app import create_app
from services.gateway.routes import benchmarks as benchmark_routes
from shared.events import BenchmarkRequested, new_benchmark_id
from shared.results.baselines import pin_baseline
from shared.results.completion import completion_event, fail_benchmark
from shared.results.sqlite_store import SqliteStore
from shared.settings import Settings
from shared.spec import BenchmarkSpec, load_spec
from tests.conftest import EXAMPLES
from tests.report_shapes import (
    assert_shape,
    comparison_shape,
    completion_shape,
    pending_view_shape,
    report_shape,
    view_shape,
)

QUICKSTART = EXAMPLES / "quickstart.yaml"
MODELS = ["lead", "extractive"]
TASKS = {"text-summarization": ["rouge-1", "rouge-2", "rouge-l", "rouge-lsum"], "question-answering": ["exact-match", "f1-score"]}
BENCHMARK_ID = re.compile(r"bm_[0-9a-f]{12}")

QUICKSTART_RESULTS = [
    {
        "model": "lead",
        "text-summarization": {
            "rouge-1": 0.34047722285820314,
            "rouge-2": 0.12601573157371124,
            "rouge-l": 0.2610446033435368,
            "rouge-lsum": 0.2610446033435368,
        },
        "question-answering": {"exact-match": 0.0, "f1-score": 18.357496189690966},
    },
    {
        "model": "extractive",
        "text-summarization": {
            "rouge-1": 0.3315155282363852,
            "rouge-2": 0.1322685807787682,
            "rouge-l": 0.26334335717193236,
            "rouge-lsum": 0.26334335717193236,
        },
        "question-answering": {"exact-match": 21.666666666666668, "f1-score": 31.936507936507937},
    },
]


def _cell(model: str, task: str, tokens: tuple[int, int], metrics: dict[str, tuple[float, float, float]]) -> dict[str, Any]:
    """A `details` entry of the quickstart (60 samples, no errors, no price table), latency aside."""
    return {
        "model": model,
        "task": task,
        "samples": 60,
        "expectedSamples": 60,
        "errors": 0,
        "errorRate": 0.0,
        "tokens": {"prompt": tokens[0], "completion": tokens[1]},
        "cost": None,
        "metrics": {name: {"value": v, "ciLow": low, "ciHigh": high} for name, (v, low, high) in metrics.items()},
    }


QUICKSTART_DETAILS = [
    _cell(
        "lead",
        "text-summarization",
        (5987, 933),
        {
            "rouge-1": (0.34047722285820314, 0.3162492611082737, 0.3657341449319386),
            "rouge-2": (0.12601573157371124, 0.10449825703386564, 0.14869045312033027),
            "rouge-l": (0.2610446033435368, 0.23506413512500587, 0.2871723392464265),
            "rouge-lsum": (0.2610446033435368, 0.23506413512500587, 0.2871723392464265),
        },
    ),
    _cell(
        "lead",
        "question-answering",
        (4472, 864),
        {
            "exact-match": (0.0, 0.0, 0.0),
            "f1-score": (18.357496189690966, 13.363766106813625, 23.720088399825748),
        },
    ),
    _cell(
        "extractive",
        "text-summarization",
        (5987, 1156),
        {
            "rouge-1": (0.3315155282363852, 0.29906535301420295, 0.3624409518468801),
            "rouge-2": (0.1322685807787682, 0.10887802667963624, 0.15679420284211223),
            "rouge-l": (0.26334335717193236, 0.23376373946898993, 0.2920004170999755),
            "rouge-lsum": (0.26334335717193236, 0.23376373946898993, 0.2920004170999755),
        },
    ),
    _cell(
        "extractive",
        "question-answering",
        (4472, 141),
        {
            "exact-match": (21.666666666666668, 11.666666666666666, 33.333333333333336),
            "f1-score": (31.936507936507937, 20.476190476190492, 44.22341269841269),
        },
    ),
]

QUICKSTART_TASKS = [
    {
        "name": "text-summarization",
        "type": "summarization",
        "dataset": str(EXAMPLES / "data" / "summarization.jsonl"),
        "datasetDigest": "sha256:56fffd6935b980e553f8d750b6212580ddc491763144850a8c3fc83ebdc8457b",
        "samples": 60,
        "metrics": TASKS["text-summarization"],
        "stemming": True,
        "shardSizes": [32, 28],
    },
    {
        "name": "question-answering",
        "type": "qa",
        "dataset": str(EXAMPLES / "data" / "qa.jsonl"),
        "datasetDigest": "sha256:c997ca3f9ac86d390f86856e63b3d4ad632f53b437f57aee3c87d331eca6b44a",
        "samples": 60,
        "metrics": TASKS["question-answering"],
        "stemming": True,
        "shardSizes": [32, 28],
    },
]


class _Caller:
    """What the routes get from the `Reading` dependency when auth is off: the gateway of one tenant."""

    def __init__(self, settings: Settings, store: SqliteStore) -> None:
        self.settings, self.store = settings, store

    def for_tenant(self, tenant: str, caller: object = None) -> _Caller:
        return self


@pytest.fixture
async def api(settings: Settings, store: SqliteStore) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's benchmark routes over the test's SQLite store, in this event loop (SQLite's thread)."""
    app = FastAPI()
    app.include_router(benchmark_routes.router)
    app.state.gateway = _Caller(settings.model_copy(update={"auth_enabled": False}), store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client:
        yield client


async def _get(api: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _spec(limit: int, **changes: Any) -> BenchmarkSpec:
    spec = load_spec(QUICKSTART)
    return spec.model_copy(update={"tasks": [task.model_copy(update={"limit": limit}) for task in spec.tasks], **changes})


def _as_json(value: Any) -> Any:
    """What a JSON reader sees of a stored report (`benchmarks run --json` prints it with json.dumps)."""
    return json.loads(json.dumps(value))


async def test_the_embedded_quickstart_report_is_pinned(store: SqliteStore, settings: Settings) -> None:
    settings = settings.model_copy(update={"shard_size": 32})  # the pinned plan's shards: 32 + 8 samples a task
    report = await embedded.run_benchmark(load_spec(QUICKSTART), base_dir=EXAMPLES, store=store, settings=settings)

    assert_shape(_as_json(report), report_shape(MODELS, TASKS, shards=dict.fromkeys(TASKS, 2)))
    assert BENCHMARK_ID.fullmatch(report["benchmarkId"])
    assert (report["name"], report["suite"], report["status"]) == ("Quickstart comparison", "quickstart", "completed")
    assert report["results"] == QUICKSTART_RESULTS
    assert [{k: v for k, v in cell.items() if k != "latencyMs"} for cell in report["details"]] == QUICKSTART_DETAILS
    assert report["tasks"] == QUICKSTART_TASKS
    assert all(0 <= cell["latencyMs"]["p50"] <= cell["latencyMs"]["p95"] for cell in report["details"])
    assert (await store.get_benchmark(report["benchmarkId"])).report == report  # stored as returned


async def test_the_gateway_answers_a_completed_benchmark_with_its_report_then_its_record(
    store: SqliteStore, settings: Settings, api: httpx.AsyncClient
) -> None:
    report = await embedded.run_benchmark(_spec(8), base_dir=EXAMPLES, store=store, settings=settings)

    body = await _get(api, f"/v1/benchmarks/{report['benchmarkId']}")

    assert_shape(body, view_shape(report_shape(MODELS, TASKS, shards=dict.fromkeys(TASKS, 1)), MODELS, requestedBy="null"))
    assert {key: body[key] for key in report} == _as_json(report)
    assert (body["trigger"], body["models"], body["verdict"]) == ("cli", MODELS, "no-baseline")
    assert body["progress"] == {"scored": 32, "expected": 32}


async def test_the_gateway_answers_an_unfinished_or_failed_benchmark_with_its_status(
    store: SqliteStore, settings: Settings, api: httpx.AsyncClient
) -> None:
    request = BenchmarkRequested(
        benchmark_id=new_benchmark_id(), spec=load_spec(QUICKSTART), trigger="api", requested_by="ci-bot"
    )
    await store.create_benchmark(request)
    path = f"/v1/benchmarks/{request.benchmark_id}"

    pending = await _get(api, path)
    assert_shape(pending, pending_view_shape(MODELS))
    assert {key: pending[key] for key in ("benchmarkId", "name", "suite", "status", "results", "trigger", "models")} == {
        "benchmarkId": request.benchmark_id,
        "name": "Quickstart comparison",
        "suite": "quickstart",
        "status": "pending",
        "results": [],
        "trigger": "api",
        "models": MODELS,
    }
    assert (pending["requestedBy"], pending["verdict"], pending["progress"]) == ("ci-bot", None, {"scored": 0, "expected": None})
    assert pending["createdAt"] == pending["updatedAt"]

    await fail_benchmark(store, request.benchmark_id, "the dataset URL went away")
    failed = await _get(api, path)
    assert_shape(failed, pending_view_shape(MODELS, reason="str", verdict="str"))
    assert (failed["status"], failed["reason"], failed["verdict"]) == ("failed", "the dataset URL went away", "failed")


async def test_comparisons_and_drift_sections_are_pinned(store: SqliteStore, settings: Settings, api: httpx.AsyncClient) -> None:
    baseline = await embedded.run_benchmark(_spec(8), base_dir=EXAMPLES, store=store, settings=settings)
    await pin_baseline(store, "quickstart", baseline["benchmarkId"], ["lead"])  # extractive has no baseline
    # "lead" now answers as the extractive model does, and summaries are scored on ROUGE-1 only
    spec = _spec(8)
    changed = spec.model_copy(
        update={
            "models": [spec.models[0].model_copy(update={"model": "extractive"}), spec.models[1]],
            "tasks": [spec.tasks[0].model_copy(update={"metrics": ["rouge-1"]}), spec.tasks[1]],
        }
    )
    report = await embedded.run_benchmark(changed, base_dir=EXAMPLES, store=store, settings=settings)
    tasks = {"text-summarization": ["rouge-1"], "question-answering": TASKS["question-answering"]}

    drift = _as_json(report["drift"])
    assert_shape(
        _as_json(report),
        report_shape(MODELS, tasks, shards=dict.fromkeys(tasks, 1), drift=comparison_shape(drift, ["str", "null"])),
    )
    assert (drift["benchmarkId"], drift["against"]) == (report["benchmarkId"], {"lead": baseline["benchmarkId"]})
    assert [(c["model"], c["task"], c["metric"]) for c in drift["cells"]] == [
        ("lead", "question-answering", "exact-match"),
        ("lead", "question-answering", "f1-score"),
    ]
    assert any(cell["worst"] for cell in drift["cells"]), "some sample got worse: its shape is pinned too"
    assert {cell["test"] for cell in drift["cells"]} == {"mcnemar-exact", "paired-bootstrap"}
    assert all(cell["verdict"] in ("regressed", "improved", "unchanged") for cell in drift["cells"])
    assert drift["regressed"] == any(cell["verdict"] == "regressed" for cell in drift["cells"])
    assert drift["refused"] == [
        {
            "model": "lead",
            "task": "text-summarization",
            "reason": f"different metrics: rouge-1 here, {', '.join(TASKS['text-summarization'])} in {baseline['benchmarkId']}",
        },
        {"model": "extractive", "task": None, "reason": "no baseline for this model"},
    ]

    view = await _get(api, f"/v1/benchmarks/{report['benchmarkId']}")
    assert view["drift"] == drift and list(view)[list(view).index("tasks") + 1] == "drift"
    assert view["verdict"] == (
        "regressed"
        if drift["regressed"]
        else "improved"
        if any(c["verdict"] == "improved" for c in drift["cells"])
        else "unchanged"
    )

    assert await _get(api, f"/v1/benchmarks/{report['benchmarkId']}/compare") == drift
    against = await _get(api, f"/v1/benchmarks/{report['benchmarkId']}/compare", against=baseline["benchmarkId"])
    assert_shape(against, comparison_shape(against, ["str", "str"]))
    assert against["against"] == {"lead": baseline["benchmarkId"], "extractive": baseline["benchmarkId"]}


async def test_an_infinite_minimum_detectable_effect_is_null_on_the_wire(
    store: SqliteStore, settings: Settings, api: httpx.AsyncClient
) -> None:
    baseline = await embedded.run_benchmark(_spec(1), base_dir=EXAMPLES, store=store, settings=settings)
    await pin_baseline(store, "quickstart", baseline["benchmarkId"])
    report = await embedded.run_benchmark(_spec(1), base_dir=EXAMPLES, store=store, settings=settings)
    assert all(cell["minimumDetectableEffect"] == float("inf") for cell in report["drift"]["cells"])  # one pair each

    compared = await _get(api, f"/v1/benchmarks/{report['benchmarkId']}/compare")
    assert_shape(compared, comparison_shape(compared, [], mde="null"))
    event = json.loads(completion_event(await store.get_benchmark(report["benchmarkId"])).to_wire())
    assert event["drift"] == compared


async def test_the_completion_event_carries_the_reports_results_and_drift(store: SqliteStore, settings: Settings) -> None:
    baseline = await embedded.run_benchmark(_spec(8), base_dir=EXAMPLES, store=store, settings=settings)
    await pin_baseline(store, "quickstart", baseline["benchmarkId"])
    report = await embedded.run_benchmark(_spec(8), base_dir=EXAMPLES, store=store, settings=settings)
    record = await store.get_benchmark(report["benchmarkId"])

    event = json.loads(completion_event(record).to_wire())

    report_json = _as_json(report)
    assert_shape(
        event,
        completion_shape(
            report_shape(MODELS, TASKS, shards=dict.fromkeys(TASKS, 1))["results"],
            drift=comparison_shape(report_json["drift"], []),
        ),
    )
    assert (event["results"], event["drift"]) == (report_json["results"], report_json["drift"])
    assert (event["benchmarkId"], event["status"], event["verdict"], event["trigger"]) == (
        report["benchmarkId"],
        "completed",
        "unchanged",
        "cli",
    )

    request = BenchmarkRequested(benchmark_id=new_benchmark_id(), spec=load_spec(QUICKSTART))
    await store.create_benchmark(request)
    failed = json.loads((await fail_benchmark(store, request.benchmark_id, "no such dataset")).to_wire())
    assert_shape(failed, completion_shape([], reason="str"))
    assert (failed["status"], failed["verdict"], failed["reason"], failed["results"], failed["drift"]) == (
        "failed",
        "failed",
        "no such dataset",
        [],
        None,
    )


def test_the_openapi_document_shows_the_report_and_the_comparison() -> None:
    document = create_app(Settings(auth_enabled=False)).openapi()
    schemas = document["components"]["schemas"]

    def answer(path: str) -> dict[str, Any]:
        response = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        return schemas[response["$ref"].removeprefix("#/components/schemas/")]

    view = answer("/v1/benchmarks/{benchmark_id}")
    assert list(view["properties"]) == [
        *("benchmarkId", "name", "suite", "status", "results", "details", "tasks", "drift"),
        *("trigger", "models", "requestedBy", "triggerDetail", "deployment", "createdAt", "updatedAt", "reason"),
        *("verdict", "progress"),
    ]
    assert {"benchmarkId", "name", "status", "verdict", "progress"} <= set(view["required"])
    assert view["properties"]["status"]["enum"] == ["pending", "running", "completed", "failed"]
    row = schemas["ModelResult"]  # {model, <task>: {<metric>: value}}
    assert view["properties"]["results"]["items"] == {"$ref": "#/components/schemas/ModelResult"}
    assert row["required"] == ["model"] and row["properties"]["model"]["type"] == "string"
    assert row["additionalProperties"] == {
        "type": "object",
        "additionalProperties": {"anyOf": [{"type": "number"}, {"type": "null"}]},
    }
    details = schemas["CellDetails"]
    assert {"samples", "errors", "errorRate", "latencyMs", "tokens", "cost", "metrics"} <= set(details["required"])
    assert details["properties"]["metrics"]["additionalProperties"] == {"$ref": "#/components/schemas/MetricValue"}
    assert list(schemas["MetricValue"]["properties"]) == ["value", "ciLow", "ciHigh"]
    assert {"$ref": "#/components/schemas/Comparison"} in view["properties"]["drift"]["anyOf"]

    comparison = answer("/v1/benchmarks/{benchmark_id}/compare")
    assert comparison == schemas["Comparison"]
    assert comparison["required"] == ["benchmarkId", "against", "regressed", "cells", "refused"]
    assert comparison["properties"]["cells"]["items"] == {"$ref": "#/components/schemas/ComparisonCell"}
    cell = schemas["ComparisonCell"]
    assert {"delta", "ciLow", "ciHigh", "pValue", "pAdjusted", "minimumDetectableEffect", "verdict", "worst"} <= set(
        cell["required"]
    )
    assert cell["properties"]["verdict"]["enum"] == ["regressed", "improved", "unchanged"]
    assert schemas["Refusal"]["properties"]["task"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
