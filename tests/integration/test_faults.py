"""Fault injection against real servers: every fault mid-run, and the pipeline recovers.

The four services run as subprocesses on a private Kafka + FerretDB (tests/integration/faults.py),
so killing or pausing those servers disturbs no other test; the fake model server is the only fake.
"Recovered" (faults.assert_recovered): the benchmark completes, each sample is scored exactly once,
the results equal a clean run's, nothing stays pending/running, and a later benchmark completes.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import topics
from shared.settings import Settings
from tests.fakes.model_server import FakeModelServer
from tests.integration.conftest import Kafka
from tests.integration.faults import (  # noqa: F401 - fixtures are found by name
    AFTER_SAMPLES,
    CONSUMED_BY,
    SERVICE_NAMES,
    Pipeline,
    PrivateServers,
    assert_recovered,
    assert_settled,
    benchmarks,
    clean_report,
    count_scores,
    dead_letter_counts,
    fake_model,
    fault_servers,
    fault_settings,
    fault_settings_for,
    get_benchmark,
    note,
    pipeline,
    planned_event,
    poisons_for,
    private_servers,
    qa_body,
    submit,
    submit_ok,
    unmatched,
    wait_completed,
    wait_for,
    wait_mid_run,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", autouse=True)
def servers() -> None:
    """Overrides conftest's wait for the shared Kafka and MongoDB: these tests start their own
    (faults.private_servers) and never touch the shared ones."""


def _benchmark_mid_run(pipeline: Pipeline, fake: FakeModelServer) -> str:
    """Warm services running a benchmark of SAMPLES samples that is partly scored: where a fault lands."""
    pipeline.start_warm(fake)
    benchmark_id = submit_ok(pipeline, qa_body(fake))
    wait_mid_run(pipeline, benchmark_id)
    return benchmark_id


# --------------------------------------------------------------------------- 1, 2: kill -9


@pytest.mark.parametrize(
    "killed",
    [("runner",), ("scorer",), ("aggregator",), ("gateway",), SERVICE_NAMES],
    ids=["runner", "scorer", "aggregator", "gateway", "all-four"],
)
def test_a_service_killed_mid_run_and_restarted_loses_nothing_and_counts_nothing_twice(
    pipeline: Pipeline, fake_model: FakeModelServer, clean_report: dict[str, Any], killed: tuple[str, ...]
) -> None:
    benchmark_id = _benchmark_mid_run(pipeline, fake_model)
    pipeline.kill(*killed)  # no goodbye: nothing in flight is finished or committed
    pipeline.restart(*killed)
    assert_recovered(pipeline, benchmark_id, clean_report, fake_model)


def test_kafka_killed_mid_run_and_restarted_loses_nothing(
    fault_servers: PrivateServers, pipeline: Pipeline, fake_model: FakeModelServer, clean_report: dict[str, Any]
) -> None:
    benchmark_id = _benchmark_mid_run(pipeline, fake_model)
    fault_servers.kill_kafka()
    time.sleep(2)
    fault_servers.restart_kafka()
    assert_recovered(pipeline, benchmark_id, clean_report, fake_model, timeout=180)


# --------------------------------------------------------------------------- 3, 4: MongoDB away


def test_mongo_paused_mid_run_the_benchmark_still_completes(
    fault_servers: PrivateServers, pipeline: Pipeline, fake_model: FakeModelServer, clean_report: dict[str, Any]
) -> None:
    benchmark_id = _benchmark_mid_run(pipeline, fake_model)
    fault_servers.pause_mongo()  # SIGSTOP: connections stay open, nothing answers
    try:
        time.sleep(8)
    finally:
        fault_servers.resume_mongo()
    assert_recovered(pipeline, benchmark_id, clean_report, fake_model)


def test_mongo_killed_mid_run_and_restarted_loses_nothing(
    fault_servers: PrivateServers, pipeline: Pipeline, fake_model: FakeModelServer, clean_report: dict[str, Any]
) -> None:
    benchmark_id = _benchmark_mid_run(pipeline, fake_model)
    fault_servers.kill_mongo()
    time.sleep(2)
    fault_servers.restart_mongo()  # its SQLite files survive: only `services.sh down` deletes them
    assert_recovered(pipeline, benchmark_id, clean_report, fake_model)


# --------------------------------------------------------------------------- 5, 6: POST while a server is away


def _retry_until_accepted(pipeline: Pipeline, body: dict[str, Any], key: str, timeout: float = 30) -> httpx.Response:
    """POST with the same Idempotency-Key, honouring 503 + Retry-After (at most 2 s apart), until a 202."""
    responses: list[httpx.Response] = []

    def accepted() -> httpx.Response | None:
        response = submit(pipeline, body, key=key)
        responses.append(response)
        if response.status_code == 503:
            time.sleep(min(float(response.headers.get("retry-after", 1)), 2.0))
            return None
        assert response.status_code == 202, f"retry: {response.status_code} {response.text[:500]}"
        return response

    return wait_for(
        f"a retry with Idempotency-Key {key} to be accepted",
        accepted,
        timeout=timeout,
        interval=0,
        detail=lambda: f"last answer {responses[-1].status_code} {responses[-1].text[:300]}",
    )


def _assert_unavailable(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, f"POST {what}: expected 503, got {response.status_code} {response.text[:500]}"
    assert "retry-after" in response.headers, f"POST {what}: a 503 without Retry-After: {dict(response.headers)}"
    assert float(response.headers["retry-after"]) > 0


def test_a_post_while_mongo_is_paused_gets_503_and_a_retry_with_its_key_runs_it_once(
    fault_servers: PrivateServers, pipeline: Pipeline, fake_model: FakeModelServer
) -> None:
    pipeline.start_warm(fake_model)
    keyed = qa_body(fake_model, AFTER_SAMPLES, name="keyed")
    unkeyed = qa_body(fake_model, AFTER_SAMPLES, name="never-retried")
    key = f"faults-{uuid.uuid4().hex}"
    fault_servers.pause_mongo()
    try:
        first = submit(pipeline, keyed, key=key)  # within 15 s, or submit() fails the test
        lone = submit(pipeline, unkeyed)  # its client never retries
    finally:
        fault_servers.resume_mongo()
    note(f"during the MongoDB pause: {first.status_code} {first.headers.get('retry-after')} / {lone.status_code}")
    _assert_unavailable(first, "with an Idempotency-Key during a MongoDB pause")
    _assert_unavailable(lone, "without an Idempotency-Key during a MongoDB pause")

    benchmark_id = _retry_until_accepted(pipeline, keyed, key).json()["benchmarkId"]
    report = wait_completed(pipeline, benchmark_id)
    assert report["results"][0]["qa"]["exact-match"] == 100.0, report["results"]
    assert count_scores(pipeline.settings, benchmark_id) == AFTER_SAMPLES
    again = submit(pipeline, keyed, key=key)
    assert again.status_code in (200, 202) and again.json()["benchmarkId"] == benchmark_id, again.text[:500]

    # whatever the stalled inserts left behind is published by the reconciler's outbox pass (or failed), never stuck
    assert_settled(pipeline)
    listed = benchmarks(pipeline)
    note("after the pause: " + ", ".join(f"{b['name']} {b['benchmarkId']} {b['status']}" for b in listed))
    assert [b["benchmarkId"] for b in listed if b["name"] == "keyed"] == [benchmark_id], listed  # one per key
    for orphan in (b for b in listed if b["name"] == "never-retried"):
        assert orphan["status"] == "completed", f"the stalled insert's benchmark ended {orphan}"


def test_a_post_while_kafka_is_down_is_refused_or_queued_and_a_retry_never_runs_it_twice(
    fault_servers: PrivateServers, pipeline: Pipeline, fake_model: FakeModelServer
) -> None:
    pipeline.start_warm(fake_model)
    body = qa_body(fake_model, AFTER_SAMPLES, name="during-kafka-outage")
    key = f"faults-{uuid.uuid4().hex}"
    fault_servers.kill_kafka()
    try:
        first = submit(pipeline, body, key=key)  # within 15 s, or submit() fails the test
    finally:
        fault_servers.restart_kafka()
    note(f"POST during the Kafka outage: {first.status_code} {first.text[:200]}")
    if first.status_code == 202:
        assert first.json().get("queued") is False, f"accepted while Kafka was down but not marked unqueued: {first.text}"
        benchmark_id = first.json()["benchmarkId"]  # stored: the reconciler publishes it from the outbox
    else:
        _assert_unavailable(first, "during a Kafka outage")
        benchmark_id = _retry_until_accepted(pipeline, body, key, timeout=60).json()["benchmarkId"]

    retried = _retry_until_accepted(pipeline, body, key, timeout=60)
    assert retried.json()["benchmarkId"] == benchmark_id, f"a retry with the same key started {retried.text}"
    report = wait_completed(pipeline, benchmark_id, timeout=180)
    assert report["results"][0]["qa"]["exact-match"] == 100.0, report["results"]
    assert count_scores(pipeline.settings, benchmark_id) == AFTER_SAMPLES
    assert_settled(pipeline)
    runs = [b["benchmarkId"] for b in benchmarks(pipeline) if b["name"] == "during-kafka-outage"]
    assert runs == [benchmark_id], f"one key, one run: {runs}"


# --------------------------------------------------------------------------- 7: poison messages


async def test_poison_on_every_consumed_topic_is_dead_lettered_and_every_consumer_keeps_going(
    pipeline: Pipeline, fault_settings: Settings, fake_model: FakeModelServer
) -> None:
    pipeline.start_warm(fake_model)
    named = (
        topics.BENCHMARKS_REQUESTED,
        topics.BENCHMARKS_PLANNED,
        topics.BENCHMARKS_WORK,
        topics.BENCHMARKS_OUTPUTS,
        topics.BENCHMARKS_SCORES,
    )
    victims = {topic: f"bm_victim_{topic.split('.')[-1]}_{uuid.uuid4().hex[:6]}" for topic in named}
    async with Kafka(fault_settings) as kafka:
        for victim in victims.values():  # a valid plan: the aggregator marks it running
            await kafka.send(topics.BENCHMARKS_PLANNED, planned_event(victim), key=victim)
        for victim in victims.values():
            wait_for(
                f"victim {victim} to be running",
                lambda v=victim: get_benchmark(pipeline, v).get("status") == "running",
                timeout=30,
                detail=lambda v=victim: str(get_benchmark(pipeline, v)),
            )

        poisons = poisons_for(fake_model, victims)
        for poison in poisons:
            await kafka.send(poison.topic, poison.payload, key=poison.key)
        letters = await kafka.read(
            topics.BENCHMARKS_DLQ, count=10_000, timeout=90, until=lambda read: not unmatched(poisons, read), allow_fewer=True
        )  # allow_fewer: the assertion below names the poisons that were not dead-lettered
        # the DLQ is consumed too (by the aggregator): its poison is skipped and counted, never re-read
        await kafka.send(topics.BENCHMARKS_DLQ, bytes(range(128, 256)) * 4000, key="dlq-binary")
        await kafka.send(topics.BENCHMARKS_DLQ, b'{"topic": "x"', key="dlq-malformed")
    note(f"{len(letters)} dead letters: " + ", ".join(f"{m.get('topic')}/{m.get('service')}" for m in letters))
    missing = unmatched(poisons, letters)
    assert not missing, (
        "not dead-lettered: "
        + ", ".join(f"{p.topic}/{p.kind}" for p in missing)
        + f"; the DLQ holds {[(m.get('topic'), m.get('service'), str(m.get('error'))[:120]) for m in letters]}"
    )
    consumer_of = {topic: service for service, consumed in CONSUMED_BY.items() for topic in consumed}
    for poison in poisons:
        letter = next(m for m in letters if poison.matches(m))
        where = f"{poison.topic}/{poison.kind}"
        assert {"topic", "key", "payload", "error", "service", "attempts"} <= letter.keys(), (where, sorted(letter))
        assert letter["service"] == consumer_of[poison.topic], (where, letter["service"])
        assert letter["key"] == poison.key and letter["error"], (where, letter["key"], letter["error"])
        if poison.kind == "binary":  # not UTF-8, and larger than a dead letter keeps
            assert letter.get("payloadEncoding") == "base64", (where, letter.get("payloadEncoding"))
            assert letter.get("payloadBytes") == len(poison.payload), (where, letter.get("payloadBytes"))
            assert letter.get("payloadSha256") == poison.sha256, where
            assert letter.get("payloadTruncated") is True, (where, letter.get("payloadTruncated"))

    # a dead-lettered event that names a running benchmark fails it, with the reason
    for poison in (p for p in poisons if p.victim):
        state: dict[str, Any] = {}

        def failed(victim: str = poison.victim, state: dict[str, Any] = state) -> bool:
            state.update(get_benchmark(pipeline, victim))
            return state.get("status") in ("failed", "completed")

        wait_for(f"victim {poison.victim} ({poison.topic}) to end", failed, timeout=30, detail=lambda state=state: str(state))
        assert state["status"] == "failed" and str(state.get("reason")).startswith("dead-lettered"), (poison.topic, state)

    # every consumer kept going
    after = submit_ok(pipeline, qa_body(fake_model, AFTER_SAMPLES, name="after-poison"))
    assert wait_completed(pipeline, after)["results"][0]["qa"]["exact-match"] == 100.0
    assert_settled(pipeline)

    skipped = 'benchmark_messages_skipped_total{service="aggregator",topic="benchmarks.dlq"} 2.0'
    wait_for(
        "the aggregator to skip the two poisoned dead letters",
        lambda: skipped in httpx.get(f"{pipeline.current['aggregator'].url}/metrics", timeout=10).text,
        timeout=30,
    )
    for service, consumed in CONSUMED_BY.items():
        counts = dead_letter_counts(pipeline.current[service].url)
        for topic in consumed:
            named_here = [
                value
                for labels, value in counts
                if any(v in (topic, fault_settings.topic_prefix + topic) for v in labels.values())
            ]
            assert sum(named_here) > 0, f"{service}: benchmark_messages_dead_lettered_total for {topic}: {counts}"


# --------------------------------------------------------------------------- 8: large records


def test_a_record_over_the_body_limit_is_refused_naming_the_problem(pipeline: Pipeline, fake_model: FakeModelServer) -> None:
    pipeline.start_all(["gateway"])
    big = [{"id": "big", "question": "x" * 1_500_000, "answers": ["x"]}]
    response = submit(pipeline, qa_body(fake_model, name="too-big", records=big))
    assert response.status_code in (413, 422), f"{response.status_code} {response.text[:500]}"
    text = response.text.lower()
    assert "bytes" in text and str(pipeline.settings.max_request_bytes) in text.replace(",", ""), response.text[:500]
    assert benchmarks(pipeline) == []


def test_records_too_large_for_one_shard_of_sixteen_are_cut_by_bytes_and_complete(
    fault_servers: PrivateServers, tmp_path: Path, fake_model: FakeModelServer
) -> None:
    """16 records of ~600 KB: one shard of 16 by count would be ~10 MB, so shards are cut by bytes.

    They come from a file in the server's data folder: inline they could not be submitted at all,
    since a request travels as one message (the gateway refuses one over BENCH_MAX_MESSAGE_BYTES)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = fault_settings_for(fault_servers, max_request_bytes=2_000_000, max_message_bytes=900_000, data_dir=data_dir)
    large = Pipeline(settings, tmp_path)
    (data_dir / "big.jsonl").write_text("".join(json.dumps(_record(i, 600_000)) + "\n" for i in range(16)))
    body = qa_body(fake_model, name="large-records")
    body["tasks"][0]["dataset"] = {"path": "big.jsonl"}
    try:
        _run_large(large, body, samples=16, min_shards=16)
    except BaseException:
        print(large.log_tails())
        raise
    finally:
        large.stop_all()


def test_an_inline_record_of_600_kb_fits_a_message_and_completes(pipeline: Pipeline, fake_model: FakeModelServer) -> None:
    """One ~600 KB record among 15 small ones, inline: the request (~630 KB) fits a message, and
    so does every work item holding the big sample, so it runs like any other benchmark."""
    records = [_record(0, 600_000)] + [_record(i, 2_000) for i in range(1, 16)]
    _run_large(pipeline, qa_body(fake_model, name="large-record-inline", records=records), samples=16, min_shards=1)


def _run_large(pipeline: Pipeline, body: dict[str, Any], *, samples: int, min_shards: int) -> None:
    """Submit to the gateway alone (a refusal shows at once), then start the rest and see it complete."""
    pipeline.start_all(["gateway"])
    response = submit(pipeline, body)
    assert response.status_code == 202, f"{body['name']}: {response.status_code} {response.text[:500]}"
    benchmark_id = response.json()["benchmarkId"]
    pipeline.start_all(["runner", "scorer", "aggregator"])
    report = wait_completed(pipeline, benchmark_id)
    assert report["results"][0]["qa"]["exact-match"] == 100.0, report["results"]
    assert count_scores(pipeline.settings, benchmark_id) == samples
    ran = sum(s.log().count(f"ran shard {benchmark_id}:") for s in pipeline.started if s.name == "runner")
    assert ran >= min_shards, f"{samples} samples over the message limit ran in {ran} shard(s), expected {min_shards}+"
    assert_settled(pipeline)


def _record(index: int, size: int) -> dict[str, Any]:
    """A QA record of about `size` bytes whose question ends in a short line: the fake echoes that
    line, so the outputs and scores stay small and exact-match is 100."""
    return {"id": f"r{index}", "question": "lorem ipsum " * (size // 12) + f"\ntail {index}", "answers": [f"tail {index}"]}
