"""The report's JSON over the real pipeline (Kafka, FerretDB, the four services): GET
/v1/benchmarks/{id} pending and completed, a comparison, a report's `drift` and the
BenchmarkCompleted events have the shapes pinned in tests/report_shapes.py."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from shared import topics
from shared.datasets import inline_records
from shared.spec import load_spec
from tests.conftest import EXAMPLES
from tests.integration.conftest import Kafka, Services
from tests.report_shapes import assert_shape, comparison_shape, completion_shape, pending_view_shape, report_shape, view_shape

pytestmark = pytest.mark.integration

MODELS = ["lead", "extractive"]
TASKS = {"text-summarization": ["rouge-1", "rouge-2", "rouge-l", "rouge-lsum"], "question-answering": ["exact-match", "f1-score"]}
CHANGED_TASKS = {"text-summarization": ["rouge-1"], "question-answering": ["exact-match", "f1-score"]}


def _body(*, changed: bool = False) -> dict[str, Any]:
    """The quickstart on 8 samples a task, datasets inline; `changed`: "lead" answers as the
    extractive model does and summaries are scored on ROUGE-1 only."""
    spec = load_spec(EXAMPLES / "quickstart.yaml")
    tasks = [t.model_copy(update={"dataset": inline_records(t.dataset, base_dir=EXAMPLES), "limit": 8}) for t in spec.tasks]
    models = spec.models
    if changed:
        tasks[0] = tasks[0].model_copy(update={"metrics": ["rouge-1"]})
        models = [models[0].model_copy(update={"model": "extractive"}), models[1]]
    return spec.model_copy(update={"tasks": tasks, "models": models}).model_dump(mode="json", by_alias=True, exclude_none=True)


def _completed(api: httpx.Client, benchmark_id: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/v1/benchmarks/{benchmark_id}").json()
        if body["status"] == "completed":
            return body
        assert body["status"] in ("pending", "running"), body
        time.sleep(0.2)
    raise AssertionError(f"{benchmark_id} did not complete within {timeout:.0f}s")


async def test_reports_comparisons_and_completion_events_keep_their_wire_shape(services: Services, kafka: Kafka) -> None:
    gateway = services.start("gateway")
    with gateway.client(timeout=30) as api:
        first = api.post("/v1/benchmarks", json=_body()).json()["benchmarkId"]
        pending = api.get(f"/v1/benchmarks/{first}").json()  # nothing consumes the request yet
        assert_shape(pending, pending_view_shape(MODELS))
        assert (pending["status"], pending["trigger"], pending["requestedBy"]) == (
            "pending",
            "api",
            f"test-admin ({services.api_key.split('_')[1]})",
        )

        for name in ("runner", "scorer", "aggregator"):
            services.start(name)
        completed = _completed(api, first)
        assert_shape(completed, view_shape(report_shape(MODELS, TASKS, shards=dict.fromkeys(TASKS, 1)), MODELS))
        assert (completed["verdict"], completed["progress"]) == ("no-baseline", {"scored": 32, "expected": 32})

        pinned = api.put("/v1/suites/quickstart/baseline", json={"benchmarkId": first, "models": ["lead"]})
        assert pinned.status_code == 200, pinned.text
        second = api.post("/v1/benchmarks", json=_body(changed=True)).json()["benchmarkId"]
        report = _completed(api, second)
        drift = report["drift"]
        assert_shape(
            report,
            view_shape(
                report_shape(
                    MODELS, CHANGED_TASKS, shards=dict.fromkeys(TASKS, 1), drift=comparison_shape(drift, ["str", "null"])
                ),
                MODELS,
            ),
        )
        assert drift["against"] == {"lead": first} and len(drift["cells"]) == 2
        assert [(r["model"], r["task"]) for r in drift["refused"]] == [("lead", "text-summarization"), ("extractive", None)]

        assert api.get(f"/v1/benchmarks/{second}/compare").json() == drift
        against = api.get(f"/v1/benchmarks/{second}/compare", params={"against": first}).json()
        assert_shape(against, comparison_shape(against, ["str", "str"]))

    events = {e["benchmarkId"]: e for e in await kafka.read(topics.BENCHMARKS_COMPLETED, count=2)}
    results_shape = report_shape(MODELS, TASKS, shards=dict.fromkeys(TASKS, 1))["results"]
    assert_shape({k: v for k, v in events[first].items() if k != "_key"}, completion_shape(results_shape, requestedBy="str"))
    assert events[first]["results"] == completed["results"] and events[first]["drift"] is None
    assert_shape(
        {k: v for k, v in events[second].items() if k != "_key"},
        completion_shape(
            report_shape(MODELS, CHANGED_TASKS, shards=dict.fromkeys(TASKS, 1))["results"],
            drift=comparison_shape(drift, ["str", "null"]),
            requestedBy="str",
        ),
    )
    assert events[second]["results"] == report["results"] and events[second]["drift"] == drift
