"""The gateway's HTTP API against real Kafka and FerretDB: bad input is refused, nothing published."""

from __future__ import annotations

import json

import httpx
import pytest

from shared import topics
from shared.datasets import inline_records
from shared.spec import load_spec
from tests.conftest import EXAMPLES
from tests.integration.conftest import Kafka, Services, run_to_completion

pytestmark = pytest.mark.integration


def _quickstart_body(limit: int | None = None) -> dict:
    spec = load_spec(EXAMPLES / "quickstart.yaml")
    tasks = [
        t.model_copy(update={"dataset": inline_records(t.dataset, base_dir=EXAMPLES), "limit": limit or t.limit})
        for t in spec.tasks
    ]
    return spec.model_copy(update={"tasks": tasks}).model_dump(mode="json", by_alias=True, exclude_none=True)


async def test_bad_requests_get_a_4xx_naming_the_field_and_nothing_is_published(services: Services, kafka: Kafka) -> None:
    gateway = services.start(
        "gateway", BENCH_MAX_SAMPLES="100", BENCH_MAX_REQUEST_BYTES="200000", BENCH_MAX_MESSAGE_BYTES="60000"
    )
    with gateway.client(timeout=30) as api:
        _check_refusals(api)
    assert await kafka.read(topics.BENCHMARKS_REQUESTED, count=1, timeout=3, allow_fewer=True) == []


def _check_refusals(api: httpx.Client) -> None:

    def refused(body: object | None = None, *, content: bytes | None = None) -> httpx.Response:
        return (
            api.post("/v1/benchmarks", json=body)
            if content is None
            else api.post("/v1/benchmarks", content=content, headers={"content-type": "application/json"})
        )

    invalid_json = refused(content=b'{"name": "x", ')
    assert invalid_json.status_code == 422 and "JSON" in invalid_json.json()["message"]

    missing = refused({"name": "x", "models": ["builtin:lead"]})
    assert missing.status_code == 422 and missing.json()["message"] == "tasks: Field required"

    body = _quickstart_body(limit=5)
    body["tasks"][1]["metrics"] = ["exact-match", "f1"]
    unknown_metric = refused(body)
    assert unknown_metric.status_code == 422
    assert "tasks[1].metrics: unknown metric 'f1'" in unknown_metric.json()["message"]
    assert "input" not in unknown_metric.json()["detail"][0]  # the request is not echoed back

    wrong_type = refused({**_quickstart_body(limit=5), "models": "builtin:lead"})
    assert wrong_type.status_code == 422 and wrong_type.json()["detail"][0]["loc"] == ["body", "models"]

    too_many = refused(_quickstart_body(limit=30))  # 2 models x 2 tasks x 30 = 120 > 100
    assert too_many.status_code == 422
    assert "120 model x sample evaluations exceed this server's maximum of 100" in too_many.json()["message"]

    server_path = _quickstart_body(limit=5)
    server_path["tasks"][0]["dataset"] = {"path": "/etc/passwd"}
    path_refused = refused(server_path)
    assert path_refused.status_code == 422
    assert path_refused.json()["detail"][0]["loc"] == ["body", "tasks", 0, "dataset", "path"]

    bad_record = _quickstart_body(limit=5)
    bad_record["tasks"][1]["dataset"]["records"][2].pop("answers")
    record_refused = refused(bad_record)
    assert record_refused.status_code == 422
    assert "inline records record 3: field 'answers': missing" in record_refused.json()["message"]

    nul_name = _quickstart_body(limit=5)
    nul_name["tasks"][0]["name"] = "summ\u0000ary"  # MongoDB refuses such keys: refused here, not stuck later
    nul_refused = refused(nul_name)
    assert nul_refused.status_code == 422
    assert "tasks[0].name: names may not contain control characters" in nul_refused.json()["message"]

    huge_sample = _quickstart_body(limit=5)
    qa = huge_sample["tasks"][1]
    qa["dataset"]["records"] = qa["dataset"]["records"][:2]
    qa.pop("limit", None)  # both records evaluated
    qa["dataset"]["records"][1]["context"] = "word " * 16_000  # 80 KB: no message holds it
    huge_refused = refused(huge_sample)
    assert huge_refused.status_code == 422
    assert huge_refused.json()["detail"][0]["loc"] == ["body", "tasks", 1, "dataset"]
    assert (
        "task 'question-answering': sample" in huge_refused.json()["message"]
        and "bytes encoded; one message holds" in huge_refused.json()["message"]
    )

    leaky = _quickstart_body(limit=5)
    leaky["models"].append(
        {"name": "taker", "provider": "openai", "baseUrl": "http://127.0.0.1:9/v1", "apiKeyEnv": "BENCH_MONGO_URL"}
    )
    leak_refused = refused(leaky)
    assert leak_refused.status_code == 422 and leak_refused.json()["detail"][0]["loc"] == ["body", "models", 2, "apiKeyEnv"]
    assert "may not name an environment variable" in leak_refused.json()["message"]

    bad_key = api.post("/v1/benchmarks", json=_quickstart_body(limit=5), headers={"Idempotency-Key": "x" * 201})
    assert bad_key.status_code == 422 and bad_key.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

    too_big = refused(content=json.dumps({"name": "x" * 300_000}).encode())
    assert too_big.status_code == 413 and "at most 200000" in too_big.json()["detail"]

    assert api.get("/v1/benchmarks/bm_missing").status_code == 404
    assert api.get("/v1/benchmarks", params={"limit": 0}).status_code == 422
    assert api.get("/v1/benchmarks").json() == {"items": [], "limit": 20, "offset": 0}


async def test_accepted_benchmarks_are_stored_listed_and_published(services: Services, kafka: Kafka) -> None:
    gateway = services.start("gateway")
    with gateway.client(timeout=30) as api:
        ids = _submit_three_and_list(api)
        first = api.post("/v1/benchmarks", json=_quickstart_body(limit=5), headers={"Idempotency-Key": "deploy-42"})
        again = api.post("/v1/benchmarks", json=_quickstart_body(limit=5), headers={"Idempotency-Key": "deploy-42"})
        assert first.status_code == again.status_code == 202
        assert first.json()["benchmarkId"] == again.json()["benchmarkId"]
        assert first.json()["queued"] is True and (first.json()["replayed"], again.json()["replayed"]) == (False, True)
        changed = api.post("/v1/benchmarks", json=_quickstart_body(limit=6), headers={"Idempotency-Key": "deploy-42"})
        assert changed.status_code == 422 and "Idempotency-Key was used for a different request" in changed.json()["message"]
        ids.append(first.json()["benchmarkId"])
    # four were accepted: reading for a fifth, the full 10 s, would catch the replay published again
    requested = await kafka.read(topics.BENCHMARKS_REQUESTED, count=5, timeout=10, allow_fewer=True)
    assert sorted(r["benchmarkId"] for r in requested) == sorted(ids)  # the replayed submission is published once
    assert all(r["_key"] == f"default/{r['benchmarkId']}" and r["trigger"] == "api" for r in requested)


def _submit_three_and_list(api: httpx.Client) -> list[str]:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json()["status"] == "ready"
    assert "/v1/benchmarks" in api.get("/openapi.json").json()["paths"]

    ids = []
    for _ in range(3):
        accepted = api.post("/v1/benchmarks", json=_quickstart_body(limit=5))
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["benchmarkId"])
        assert accepted.json()["location"] == f"/v1/benchmarks/{ids[-1]}"

    pending = api.get(f"/v1/benchmarks/{ids[0]}").json()
    assert pending["status"] == "pending" and pending["results"] == [] and pending["progress"]["expected"] is None
    page = api.get("/v1/benchmarks", params={"limit": 2}).json()
    assert [item["benchmarkId"] for item in page["items"]] == ids[::-1][:2]  # newest first
    assert [i["benchmarkId"] for i in api.get("/v1/benchmarks", params={"offset": 2}).json()["items"]] == ids[:1]
    return ids


async def test_baselines_and_comparisons_over_http(services: Services, kafka: Kafka) -> None:
    for name in ("runner", "scorer"):
        services.start(name)
    aggregator = services.start("aggregator")
    gateway = services.start("gateway")
    with gateway.client(timeout=30) as api:
        first, second = (run_to_completion(api, _quickstart_body(limit=10)) for _ in range(2))
        assert api.get("/v1/suites/quickstart/baseline").status_code == 404
        refused = api.put("/v1/suites/quickstart/baseline", json={"benchmarkId": first, "models": ["gpt-9"]})
        assert refused.status_code == 422 and "did not run gpt-9" in refused.json()["message"]
        pinned = api.put("/v1/suites/quickstart/baseline", json={"benchmarkId": first})
        assert pinned.status_code == 200 and pinned.json()["models"] == {"lead": first, "extractive": first}
        assert api.get("/v1/suites/quickstart/baseline").json() == pinned.json()

        comparison = api.get(f"/v1/benchmarks/{second}/compare").json()
        assert comparison["against"] == {"lead": first, "extractive": first} and not comparison["regressed"]
        assert {c["verdict"] for c in comparison["cells"]} == {"unchanged"} and len(comparison["cells"]) == 2 * (4 + 2)
        assert api.get(f"/v1/benchmarks/{second}/compare", params={"against": first}).json()["cells"] == comparison["cells"]
        assert api.get("/v1/benchmarks/bm_nope/compare").status_code == 404

        third = run_to_completion(api, _quickstart_body(limit=10))  # a run of a suite with a baseline carries its drift
        report = api.get(f"/v1/benchmarks/{third}").json()
        assert report["drift"]["against"] == {"lead": first, "extractive": first}
    completed = await kafka.read(topics.BENCHMARKS_COMPLETED, count=3)  # partitions: any order
    has_drift = {c["benchmarkId"]: c.get("drift") is not None for c in completed}
    assert has_drift == {first: False, second: False, third: True}

    cell = 'suite="quickstart",task="question-answering",tenant="default"'  # every series names its tenant
    metrics = httpx.get(f"{aggregator.url}/metrics").text
    assert 'benchmarks_total{status="completed",tenant="default"} 3.0' in metrics
    assert f'benchmark_drift_detected{{metric="f1-score",model="lead",{cell}}} 0.0' in metrics
    assert f'benchmark_metric_delta{{metric="f1-score",model="lead",{cell}}} 0.0' in metrics
    assert 'benchmark_last_completed_timestamp_seconds{model="lead",suite="quickstart",tenant="default"}' in metrics
    # a new aggregator replica rebuilds the gauges from the store
    replica = services.start("aggregator", replica=1)
    rebuilt = httpx.get(f"{replica.url}/metrics").text
    gauges = [line for line in metrics.splitlines() if line.startswith(("benchmark_metric_", "benchmark_drift_"))]
    assert gauges and all(line in rebuilt for line in gauges)
