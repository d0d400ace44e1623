"""The runner's work consumer against the real Kafka: many records in flight without holding a
partition, offsets committed only past finished records, memory bounded, the group left cleanly.
(Its pure parts: tests/unit/test_work_scheduling.py; the runner service end to end:
tests/integration/test_fair_scheduling.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared import topics
from shared.events import Event
from shared.fair_queue import Shape
from shared.messaging import DeliveryTelemetry, Outgoing
from shared.parallel_consumer import ParallelConsumer
from shared.settings import Settings
from tests.integration.conftest import Kafka
from tests.waiting import wait_for_async

pytestmark = pytest.mark.asyncio


class Ping(Event):
    n: int


class Gate:
    """A handler whose records finish only when the test opens their gate."""

    def __init__(self, blocked: Callable[[int], bool]) -> None:
        self.blocked = blocked
        self.started: list[int] = []
        self.finished: list[int] = []
        self.open = asyncio.Event()

    async def __call__(self, ping: Ping) -> Sequence[Outgoing]:
        self.started.append(ping.n)
        if self.blocked(ping.n):
            await self.open.wait()
        self.finished.append(ping.n)
        return []


async def nowhere(outgoing: Outgoing, headers: dict[str, str] | None) -> None:
    raise AssertionError("these handlers publish nothing")


def consumer_of(settings: Settings, handler: Gate, instance_id: str | None = None, **options: int) -> ParallelConsumer[Ping]:
    return ParallelConsumer(
        settings,
        topic=topics.BENCHMARKS_WORK,
        topic_name=settings.topic_prefix + topics.BENCHMARKS_WORK,
        group="parallel-test",
        event_type=Ping,
        handler=handler,
        publish_outgoing=nowhere,
        classify=lambda ping, key: Shape(tenant="t", benchmark=f"b{ping.n if ping else key}", lane=ping.n if ping else key),
        service="test",
        telemetry=DeliveryTelemetry(),
        max_in_flight=options.get("max_in_flight", 64),
        max_buffered=options.get("max_buffered", 1000),
        max_buffered_bytes=10_000_000,
        commit_interval_s=0.2,
        instance_id=instance_id,
    )


@pytest.fixture
async def running(settings: Settings, kafka: Kafka) -> AsyncIterator[list[ParallelConsumer[Ping]]]:
    started: list[ParallelConsumer[Ping]] = []
    yield started
    for consumer in started:
        await consumer.stop(timeout_s=5)


async def committed(settings: Settings) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.topic_prefix + "parallel-test")
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def test_the_committed_offset_never_passes_an_unfinished_record(
    settings: Settings, kafka: Kafka, running: list[ParallelConsumer[Ping]]
) -> None:
    gate = Gate(blocked=lambda n: n == 3)
    for n in range(20):
        await kafka.send(topics.BENCHMARKS_WORK, Ping(n=n), key="one-partition")
    consumer = consumer_of(settings, gate)
    running.append(consumer)
    await consumer.start()

    await wait_for_async("19 of 20 records to finish around the held one", lambda: len(gate.finished) == 19, timeout=60)
    assert 3 in gate.started and 3 not in gate.finished
    await wait_for_async("the commit of the finished prefix", lambda: _sum(committed(settings), 3), timeout=30)
    await asyncio.sleep(1.0)  # five commit rounds later, still not past offset 3
    assert sum((await committed(settings)).values()) == 3

    gate.open.set()
    await wait_for_async("the commit of all 20", lambda: _sum(committed(settings), 20), timeout=30)


async def test_records_of_one_partition_run_at_once_and_memory_stays_bounded(
    settings: Settings, kafka: Kafka, running: list[ParallelConsumer[Ping]]
) -> None:
    gate = Gate(blocked=lambda n: True)
    for n in range(30):
        await kafka.send(topics.BENCHMARKS_WORK, Ping(n=n), key="one-partition")
    consumer = consumer_of(settings, gate, max_in_flight=8, max_buffered=12)
    running.append(consumer)
    await consumer.start()

    await wait_for_async("8 records of one partition running at once", lambda: consumer.running == 8, timeout=60)
    await wait_for_async("the buffer to fill to its bound", lambda: consumer.held == 12, timeout=30)
    await asyncio.sleep(1.0)  # paused, not reading on
    assert consumer.held == 12 and len(gate.started) == 8
    gate.open.set()
    await wait_for_async("all 30 records, 12 at most held at once", lambda: len(gate.finished) == 30, timeout=60)
    await wait_for_async("the commit of all 30", lambda: _sum(committed(settings), 30), timeout=30)


async def test_a_stopped_static_member_commits_what_finished_and_leaves_so_its_successor_runs_the_rest_at_once(
    settings: Settings, kafka: Kafka, running: list[ParallelConsumer[Ping]]
) -> None:
    # static members of another name each, and a session longer than the test waits: the
    # successor gets the partitions because the first left, not because its session expired
    settings = settings.model_copy(update={"kafka_session_timeout_s": 120})
    first = Gate(blocked=lambda n: n >= 5)
    for n in range(10):
        await kafka.send(topics.BENCHMARKS_WORK, Ping(n=n), key="one-partition")
    consumer = consumer_of(settings, first, instance_id="first-pod")
    await consumer.start()
    await wait_for_async("records 0-4 to finish", lambda: len(first.finished) == 5, timeout=60)
    await consumer.stop(timeout_s=0.5)  # 5-9 are held: cancelled, not committed
    assert sum((await committed(settings)).values()) == 5

    second = Gate(blocked=lambda n: False)
    successor = consumer_of(settings, second, instance_id="second-pod")
    running.append(successor)
    await successor.start()
    await wait_for_async("the successor to run 5-9", lambda: sorted(second.finished) == [5, 6, 7, 8, 9], timeout=60)
    assert not set(second.started) & set(range(5))  # nothing finished is run again


async def _sum(offsets: Awaitable[dict[int, int]], expected: int) -> bool:
    return sum((await offsets).values()) == expected
