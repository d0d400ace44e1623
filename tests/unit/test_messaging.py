"""The consume loop's delivery rules, without a broker: DLQ, retries, re-reads."""

from __future__ import annotations

import pytest

from shared import topics
from shared.errors import DatasetError, StoreUnavailable
from shared.events import DeadLetter, SampleScores
from shared.messaging import Outgoing, process_message

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
        raw, "bm_1", source_topic=topics.BENCHMARKS_SCORES, event_type=SampleScores, handler=handler,
        publish_outgoing=recorder.publish, service="aggregator", attempts=attempts, sleep=recorder.sleep,
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


async def test_retryable_failures_are_retried_with_backoff_then_re_read() -> None:
    recorder = Recorder()
    calls = 0

    async def flaky(event: SampleScores) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise StoreUnavailable("MongoDB unreachable")
        return []

    await _process(SCORES.to_wire(), flaky, recorder)
    assert calls == 3 and len(recorder.sleeps) == 2 and recorder.published == []

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
