"""The consume loop's delivery rules, without a broker: DLQ, retries, re-reads."""

from __future__ import annotations

import base64
import hashlib

import pytest

from shared import topics
from shared.errors import BrokerUnavailable, DatasetError, MessageTooLarge, StoreUnavailable
from shared.events import DeadLetter, SampleScores
from shared.messaging import DeliveryTelemetry, Outgoing, dead_letter_for, process_message

SCORES = SampleScores(benchmark_id="bm_1", model="m", task="t", shard=0, scores=[])


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[Outgoing, dict | None]] = []
        self.sleeps: list[float] = []

    async def publish(self, outgoing: Outgoing, headers: dict | None) -> None:
        self.published.append((outgoing, headers))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def _process(raw: bytes, handler, recorder: Recorder, attempts: int = 3) -> None:
    await process_message(
        raw,
        "bm_1",
        source_topic=topics.BENCHMARKS_SCORES,
        event_type=SampleScores,
        handler=handler,
        publish_outgoing=recorder.publish,
        service="aggregator",
        attempts=attempts,
        sleep=recorder.sleep,
    )


async def test_outputs_are_published_after_handling() -> None:
    recorder = Recorder()

    async def handler(event: SampleScores) -> list[Outgoing]:
        return [Outgoing(topics.BENCHMARKS_COMPLETED, event.benchmark_id, event)]

    await _process(SCORES.to_wire(), handler, recorder)
    assert [o.topic for o, _ in recorder.published] == [topics.BENCHMARKS_COMPLETED]


async def test_unparseable_payload_goes_to_the_dlq_with_the_reason() -> None:
    recorder = Recorder()
    await _process(b'{"schemaVersion": 7}', pytest.fail, recorder)
    [(outgoing, headers)] = recorder.published
    assert outgoing.topic == topics.BENCHMARKS_DLQ and outgoing.key == "bm_1"
    letter = outgoing.event
    assert isinstance(letter, DeadLetter) and letter.payload == '{"schemaVersion": 7}'
    assert "schemaVersion" in letter.error and letter.service == "aggregator" and letter.topic == "benchmarks.scores"
    assert headers["x-source-topic"] == "benchmarks.scores" and headers["x-attempts"] == "1"


class StoreDownTwice:
    """A handler whose store is unreachable on the first two calls, then answers."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, event: SampleScores) -> list[Outgoing]:
        self.calls += 1
        if self.calls < 3:
            raise StoreUnavailable("MongoDB unreachable")
        return []


async def test_retryable_failures_are_retried_with_backoff_then_re_read() -> None:
    recorder = Recorder()
    flaky = StoreDownTwice()
    await _process(SCORES.to_wire(), flaky, recorder)
    assert flaky.calls == 3 and len(recorder.sleeps) == 2 and recorder.published == []

    async def down(event: SampleScores) -> list[Outgoing]:
        raise StoreUnavailable("MongoDB unreachable")

    with pytest.raises(StoreUnavailable):  # not committed: Kafka delivers it again
        await _process(SCORES.to_wire(), down, recorder)
    assert recorder.published == []


async def test_permanent_failures_and_bugs_are_parked_in_the_dlq() -> None:
    for error in (DatasetError("gone.jsonl: dataset file not found"), KeyError("bug")):
        recorder = Recorder()

        async def failing(event: SampleScores, error: Exception = error) -> list[Outgoing]:
            raise error

        await _process(SCORES.to_wire(), failing, recorder)
        [(outgoing, _)] = recorder.published
        assert outgoing.topic == topics.BENCHMARKS_DLQ and type(error).__name__ in outgoing.event.error


async def test_a_non_utf8_payload_is_kept_intact_in_base64() -> None:
    recorder = Recorder()
    raw = bytes(range(256)) * 4
    await _process(raw, pytest.fail, recorder)
    [(outgoing, _)] = recorder.published
    letter = outgoing.event
    assert letter.payload_encoding == "base64" and base64.b64decode(letter.payload) == raw
    assert letter.payload_bytes == len(raw) and not letter.payload_truncated
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()


async def test_an_oversized_payload_is_cut_under_the_limit_with_its_size_and_digest() -> None:
    raw = bytes([0xFF]) * 900_000  # not UTF-8 either: as the broken producer sent it
    letter = dead_letter_for(raw, "bm_1", topic="benchmarks.work", error="e", service="runner", attempts=1, payload_limit=256_000)
    assert len(letter.to_wire()) < 260_000 and letter.payload_truncated and letter.payload_bytes == 900_000
    assert base64.b64decode(letter.payload) == raw[: len(base64.b64decode(letter.payload))]
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    text = ("\x01" * 200_000).encode()  # UTF-8, but six bytes a character once escaped in JSON
    assert (
        dead_letter_for(text, None, topic="t", error="e", service="s", attempts=1, payload_limit=256_000).payload_encoding
        == "base64"
    )


def test_a_dead_letter_names_the_benchmark_of_its_message() -> None:
    def benchmark(raw: bytes, key: str | None, topic: str = topics.BENCHMARKS_WORK) -> str | None:
        return dead_letter_for(raw, key, topic=topic, error="e", service="s", attempts=1, payload_limit=1000).benchmark_id

    assert benchmark(b'{"benchmarkId": "bm_a"}', "other") == "bm_a"
    assert benchmark(b"\xff\xfe", "bm_b:model:task:3") == "bm_b"
    assert benchmark(b"{}", None) is None
    assert benchmark(b'{"benchmarkId": "bm_a"}', "bm_a", topic=topics.DEPLOYMENTS) is None  # keyed by model there
    assert benchmark(b'{"benchmarkId": "no\\u0000pe"}', None) is None  # never an unsafe id


async def test_a_message_that_cannot_even_be_dead_lettered_is_skipped_once_and_counted() -> None:
    telemetry = DeliveryTelemetry()
    sleeps: list[float] = []
    tries = 0

    async def refusing(outgoing: Outgoing, headers: dict | None) -> None:
        nonlocal tries
        tries += 1
        raise MessageTooLarge("the broker refused it")

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    await process_message(
        b"{broken",
        "k",
        source_topic=topics.BENCHMARKS_OUTPUTS,
        event_type=SampleScores,
        handler=pytest.fail,
        publish_outgoing=refusing,
        service="scorer",
        attempts=3,
        sleep=sleep,
        telemetry=telemetry,
    )  # returns: the offset is committed, the partition moves on
    assert tries == 1 and sleeps == []  # a permanent refusal is not retried
    assert telemetry.skipped.labels(service="scorer", topic="benchmarks.outputs")._value.get() == 1

    async def broker_down(outgoing: Outgoing, headers: dict | None) -> None:
        nonlocal tries
        tries += 1
        raise BrokerUnavailable("no broker")

    tries = 0
    await process_message(
        b"{broken",
        "k",
        source_topic=topics.BENCHMARKS_OUTPUTS,
        event_type=SampleScores,
        handler=pytest.fail,
        publish_outgoing=broker_down,
        service="scorer",
        attempts=3,
        sleep=sleep,
        telemetry=telemetry,
    )
    assert tries == 3 and len(sleeps) == 2  # bounded retries, then skipped
    assert telemetry.skipped.labels(service="scorer", topic="benchmarks.outputs")._value.get() == 2


async def test_output_too_large_to_publish_parks_the_input_instead_of_retrying_forever() -> None:
    recorder = Recorder()
    published: list[str] = []

    async def publish(outgoing: Outgoing, headers: dict | None) -> None:
        if outgoing.topic != topics.BENCHMARKS_DLQ:
            raise MessageTooLarge("ModelOutputs is 2,000,000 bytes")
        published.append(outgoing.event.error)

    async def handler(event: SampleScores) -> list[Outgoing]:
        return [Outgoing(topics.BENCHMARKS_COMPLETED, event.benchmark_id, event)]

    await process_message(
        SCORES.to_wire(),
        "bm_1",
        source_topic=topics.BENCHMARKS_SCORES,
        event_type=SampleScores,
        handler=handler,
        publish_outgoing=publish,
        service="aggregator",
        attempts=3,
        sleep=recorder.sleep,
    )
    assert published == ["MessageTooLarge: ModelOutputs is 2,000,000 bytes"] and recorder.sleeps == []


async def test_the_dlq_consumer_never_dead_letters_a_dead_letter() -> None:
    recorder = Recorder()
    telemetry = DeliveryTelemetry()
    await process_message(
        b"{broken",
        None,
        source_topic=topics.BENCHMARKS_DLQ,
        event_type=DeadLetter,
        handler=pytest.fail,
        publish_outgoing=recorder.publish,
        service="aggregator",
        attempts=3,
        telemetry=telemetry,
        dead_letters=False,
    )
    assert recorder.published == []
    assert telemetry.skipped.labels(service="aggregator", topic="benchmarks.dlq")._value.get() == 1


async def test_an_outage_is_reported_to_the_outage_log_not_once_per_retry() -> None:
    class Outage:
        def __init__(self) -> None:
            self.events: list[str] = []

        def failed(self, reason: str) -> None:
            self.events.append("failed")

        def recovered(self) -> None:
            self.events.append("recovered")

    outage, recorder = Outage(), Recorder()
    await process_message(
        SCORES.to_wire(),
        "bm_1",
        source_topic=topics.BENCHMARKS_SCORES,
        event_type=SampleScores,
        handler=StoreDownTwice(),
        publish_outgoing=recorder.publish,
        service="aggregator",
        attempts=3,
        sleep=recorder.sleep,
        outage=outage,
    )
    assert outage.events == ["failed", "failed", "recovered"]
