"""A consumer that runs many records of its partitions at once, fairly, and commits safely.

Kafka's consumer model runs one record per partition at a time; a runner waiting for a slow
model would hold its partition, and every benchmark keyed behind that record would wait too.
This consumer (the runner's, for `benchmarks.work`) takes records ahead of the one running,
queues them in a FairQueue (shared/fair_queue.py) and runs up to `max_in_flight` at once, in
the order the queue says. The guarantees of shared/messaging.py's consume loop still hold, per
record (process_message: DLQ for what can never succeed, retries for what may), and:

- at least once: a partition's offset is committed only up to its lowest unfinished record
  (shared/offsets.py), every `commit_interval_s`, on a rebalance and on shutdown;
- bounded memory: at most `max_buffered` records and `max_buffered_bytes` bytes are held
  (queued or running); past that the consumer pauses its partitions and keeps polling, so it
  stays in the group;
- a record whose handling failed retryably `attempts` times waits and runs again, without
  holding anything else up; it is never committed past;
- partitions taken away in a rebalance: their queued records are dropped (the new owner reads
  them again from the committed offset), their running ones get `revoke_grace_s` to finish;
- a restarted process takes its partitions back at once: with an instance id, it is a static
  member of the group (KIP-345), so Kafka hands the same member's partitions to the new process
  without waiting for the old session to expire; on a clean shutdown it leaves the group, so a
  process that is not coming back does not hold its partitions until then.

Why not Kafka share groups (KIP-932)? See docs/scaling.md: not in the Kafka clients we use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from shared.errors import BenchmarkError
from shared.events import Event
from shared.fair_queue import FairQueue, Job, Shape
from shared.kafka_security import client_options
from shared.messaging import DeliveryTelemetry, Handler, Outage, Publish, leave_group_on_stop, process_message
from shared.offsets import PartitionOffsets
from shared.settings import Settings

__all__ = ["ParallelConsumer", "Record"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

_POLL_MS = 500
_RETRY_PAUSE_S = 5.0


@dataclass(eq=False, slots=True)
class Record(Generic[E]):
    partition: TopicPartition
    offset: int
    raw: bytes
    key: str | None
    event: E | None
    """Parsed when taken (to place it in the queue); None when it does not parse: process_message
    then parks it in the DLQ with the reason."""


Classify = Callable[[E | None, str | None], Shape]


class ParallelConsumer(Generic[E]):
    def __init__(
        self,
        settings: Settings,
        *,
        topic: str,
        topic_name: str,
        group: str,
        event_type: type[E],
        handler: Handler[E],
        publish_outgoing: Publish,
        classify: Classify[E],
        service: str,
        telemetry: DeliveryTelemetry,
        max_in_flight: int,
        max_buffered: int,
        max_buffered_bytes: int,
        weights: Mapping[str, float] | None = None,
        instance_id: str | None = None,
        commit_interval_s: float = 1.0,
        revoke_grace_s: float = 10.0,
        outage: Outage | None = None,
        on_change: Callable[[ParallelConsumer[E]], None] | None = None,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._topic_name = topic_name
        self._group = group
        self._event_type = event_type
        self._handler = handler
        self._publish = publish_outgoing
        self._classify = classify
        self._service = service
        self._telemetry = telemetry
        self._max_in_flight = max_in_flight
        self._max_buffered = max_buffered
        self._max_buffered_bytes = max_buffered_bytes
        self._instance_id = instance_id
        self._commit_interval_s = commit_interval_s
        self._revoke_grace_s = revoke_grace_s
        self._outage = outage
        self._on_change = on_change
        self.queue: FairQueue[Record[E]] = FairQueue(weights)
        self._offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._revoking: set[TopicPartition] = set()
        self._running: dict[asyncio.Task[None], Job[Record[E]]] = {}
        self._waiting_retry: set[asyncio.Task[None]] = set()
        self._held_bytes = 0
        self._held = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._paused = False
        self._consumer: AIOKafkaConsumer | None = None
        self._loop_task: asyncio.Task[None] | None = None

    # --- what it holds, for telemetry and tests ---------------------------------------------------

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def held(self) -> int:
        """Records queued, running or waiting to retry."""
        return self._held

    def running_by_tenant(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self._running.values():
            counts[job.shape.tenant] = counts.get(job.shape.tenant, 0) + 1
        return counts

    def waiting_by_tenant(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self.queue.waiting():
            counts[job.shape.tenant] = counts.get(job.shape.tenant, 0) + 1
        return counts

    # --- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self._settings
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.topic_prefix + self._group,
            client_id=f"benchmarks-{self._service}",
            group_instance_id=self._instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.kafka_session_timeout_s * 1000),
            heartbeat_interval_ms=max(100, int(settings.kafka_session_timeout_s * 1000) // 3),
            **client_options(settings),
        )
        await self._consumer.start()
        self._consumer.subscribe([self._topic_name], listener=_Rebalance(self))
        self._loop_task = asyncio.create_task(self._keep_consuming(), name=f"{self._service}: consume {self._topic}")

    async def stop(self, timeout_s: float) -> None:
        """Stop taking records, give the running ones `timeout_s` to finish, commit, leave the group."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await self._finish(set(self._running), timeout_s)
        for task in list(self._waiting_retry):
            task.cancel()
        consumer = self._consumer
        if consumer is None:
            return
        with contextlib.suppress(KafkaError):
            await self._commit()
        leave_group_on_stop(consumer)  # a static member too: it may not be coming back
        await consumer.stop()

    # --- the loop ---------------------------------------------------------------------------------

    async def _keep_consuming(self) -> None:
        """The loop, started again after anything unforeseen: a runner that stopped taking work
        while it still answered /readyz would be the worst failure of all."""
        while not self._stopping:
            try:
                await self._loop()
            except Exception:
                log.exception("consuming %s failed; starting again in 1 s", self._topic)
                await asyncio.sleep(1.0)

    async def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        fetch: asyncio.Task[dict[TopicPartition, list[Any]]] | None = None
        last_commit = asyncio.get_running_loop().time()
        try:
            while not self._stopping:
                self._dispatch()
                now = asyncio.get_running_loop().time()
                if now - last_commit >= self._commit_interval_s:
                    last_commit = now
                    await self._commit_quietly()
                self._pause_when_full(consumer)
                if fetch is None:
                    fetch = asyncio.create_task(consumer.getmany(timeout_ms=_POLL_MS, max_records=max(1, self._room())))
                wake = asyncio.create_task(self._wake.wait())
                done, _ = await asyncio.wait({fetch, wake}, timeout=self._commit_interval_s, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                self._wake.clear()
                if fetch in done:
                    batch, fetch = fetch, None
                    try:
                        records = batch.result()
                    except KafkaError as exc:
                        log.warning("fetching from %s failed, trying again: %s", self._topic, exc)
                        await asyncio.sleep(1.0)
                        continue
                    for partition, messages in records.items():
                        for message in messages:
                            self._take(partition, message)
        finally:
            if fetch is not None:
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, KafkaError):
                    await fetch

    def _room(self) -> int:
        return self._max_buffered - self._held

    def _pause_when_full(self, consumer: AIOKafkaConsumer) -> None:
        full = self._held >= self._max_buffered or self._held_bytes >= self._max_buffered_bytes
        if full and not self._paused:
            consumer.pause(*consumer.assignment())
            self._paused = True
        elif not full and self._paused:
            consumer.resume(*consumer.paused())
            self._paused = False

    def _take(self, partition: TopicPartition, message: Any) -> None:
        offsets = self._offsets.get(partition)
        if offsets is None or partition in self._revoking:  # a fetch answered as its partition went
            return
        if not offsets.taken(message.offset):
            return
        raw: bytes = message.value or b""
        key = message.key.decode("utf-8", errors="replace") if message.key else None
        try:
            event: E | None = self._event_type.model_validate_json(raw)
        except ValidationError:
            event = None
        try:
            shape = self._classify(event, key)
        except Exception:  # a record it cannot place still runs (and is dead-lettered if it must be)
            log.exception("%s offset %d: cannot place it in the queue; it runs alone", partition, message.offset)
            shape = Shape(tenant="", benchmark=f"unplaced:{partition}:{message.offset}", lane=("unplaced",), priority=0)
        self._held += 1
        self._held_bytes += len(raw)
        self.queue.push(Job(Record(partition, message.offset, raw, key, event), shape))
        self._changed()

    def _dispatch(self) -> None:
        while len(self._running) < self._max_in_flight:
            job = self.queue.pop()
            if job is None:
                break
            task = asyncio.create_task(self._run(job))
            self._running[task] = job
        self._changed()

    async def _run(self, job: Job[Record[E]]) -> None:
        record = job.payload
        task = asyncio.current_task()
        retry = cancelled = False
        try:
            await process_message(
                record.raw,
                record.key,
                source_topic=self._topic,
                event_type=self._event_type,
                handler=self._handler,
                publish_outgoing=self._publish,
                service=self._service,
                attempts=self._settings.retry_attempts,
                payload_limit=self._settings.dlq_payload_bytes,
                telemetry=self._telemetry,
                outage=self._outage,
                event=record.event,
            )
        except asyncio.CancelledError:  # revoked or shutting down: the next owner runs it again
            cancelled = True
            raise
        except BenchmarkError as exc:  # retryable, and still failing after every attempt
            log.warning("%s offset %d: %s; it runs again in %.0fs", record.partition, record.offset, exc, _RETRY_PAUSE_S)
            retry = True
        except Exception:  # process_message parks what it understands; anything else is retried
            log.exception("%s offset %d failed; it runs again in %.0fs", record.partition, record.offset, _RETRY_PAUSE_S)
            retry = True
        finally:
            if task is not None:
                self._running.pop(task, None)
            self.queue.done(job)
            self._wake.set()
            if cancelled:
                self._release(record)
        offsets = self._offsets.get(record.partition)
        if offsets is None:  # revoked meanwhile: the new owner runs it again
            self._release(record)
            return
        if retry:
            waiter = asyncio.create_task(self._retry_later(job))
            self._waiting_retry.add(waiter)
            waiter.add_done_callback(self._waiting_retry.discard)
            return
        offsets.finished(record.offset)
        self._release(record)

    async def _retry_later(self, job: Job[Record[E]]) -> None:
        await asyncio.sleep(_RETRY_PAUSE_S * random.uniform(0.8, 1.2))
        if job.payload.partition in self._offsets and not self._stopping:
            self.queue.push(job)
            self._wake.set()
        else:
            self._release(job.payload)

    def _release(self, record: Record[E]) -> None:
        self._held -= 1
        self._held_bytes -= len(record.raw)
        self._changed()

    # --- commits and rebalances -------------------------------------------------------------------

    async def _commit(self, partitions: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        assert consumer is not None
        points = {
            partition: point
            for partition, offsets in self._offsets.items()
            if (partitions is None or partition in partitions) and (point := offsets.to_commit()) is not None
        }
        if not points:
            return
        await consumer.commit({partition: OffsetAndMetadata(point, "") for partition, point in points.items()})
        for partition, point in points.items():
            self._offsets[partition].committed(point)

    async def _commit_quietly(self) -> None:
        try:
            await self._commit()
        except KafkaError as exc:  # a rebalance under way, or the broker away: the next round commits
            log.warning("committing %s offsets failed (committed later): %s", self._topic, exc)

    async def _finish(self, tasks: set[asyncio.Task[None]], timeout_s: float) -> None:
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            log.warning("%d records of %s did not finish in %.0fs: they run again elsewhere", len(late), self._topic, timeout_s)
            await asyncio.wait(late)

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._revoking |= revoked
        dropped = self.queue.remove(lambda job: job.payload.partition in revoked)
        for job in dropped:
            self._release(job.payload)
        theirs = {task for task, job in self._running.items() if job.payload.partition in revoked}
        await self._finish(theirs, self._revoke_grace_s)
        try:
            await self._commit(revoked)
        except KafkaError as exc:
            log.warning("committing revoked %s partitions failed: %s", self._topic, exc)
        for partition in revoked:
            self._offsets.pop(partition, None)
        self._revoking -= revoked
        if revoked:
            log.info("gave up %s: %d queued records dropped", sorted(p.partition for p in revoked), len(dropped))

    def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        for partition in assigned:
            self._offsets.setdefault(partition, PartitionOffsets())
        if self._paused and self._consumer is not None:
            self._consumer.pause(*assigned)
        log.info("assigned %s partitions %s", self._topic, sorted(p.partition for p in assigned))

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: ParallelConsumer[Any]) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._consumer.partitions_assigned(set(assigned))
