"""Kafka wiring shared by every service: topic names, publishing, and the consume loop.

The consume loop is where delivery guarantees live, once for every service:
- offsets are committed only after the handler's output is published or stored (at least once);
- a message that does not parse, or carries an unknown schemaVersion, goes to the DLQ with the
  error and the original payload, and the consumer keeps going;
- a retryable failure (store or broker unreachable) is retried with backoff; after the retry
  budget the message is not committed and is read again, so nothing is lost;
- any other failure sends the message to the DLQ with the error: nothing is logged-and-dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from shared import topics as topic_names
from shared.errors import BenchmarkError, BrokerUnavailable
from shared.events import DeadLetter, Event
from shared.settings import Settings

__all__ = ["Outgoing", "Topics", "create_broker", "publish", "subscribe", "process_message"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

# High-volume topics get `settings.partitions`; the rest `settings.control_partitions`.
_DATA_TOPICS = frozenset({topic_names.BENCHMARKS_WORK, topic_names.BENCHMARKS_OUTPUTS, topic_names.BENCHMARKS_SCORES})


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    """Logical topic name from shared.topics (the prefix is added when publishing)."""
    key: str
    event: Event


class Topics:
    """Topic names with the deployment's prefix, and how each is created."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def name(self, topic: str) -> str:
        return self._settings.topic_prefix + topic

    def declare(self, topic: str) -> Topic:
        partitions = self._settings.partitions if topic in _DATA_TOPICS else self._settings.control_partitions
        return Topic(self.name(topic), num_partitions=partitions, replication_factor=self._settings.replication_factor)

    def all(self) -> list[Topic]:
        return [self.declare(topic) for topic in topic_names.EVENT_BY_TOPIC]


def create_broker(settings: Settings, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        graceful_timeout=settings.shutdown_timeout_s,  # on SIGTERM, finish the messages in flight first
        logger=log,
    )


async def publish(broker: KafkaBroker, topics: Topics, outgoing: Outgoing, *, headers: dict[str, str] | None = None) -> None:
    try:
        await broker.publish(
            outgoing.event.to_wire(),
            topic=topics.name(outgoing.topic),
            key=outgoing.key.encode(),
            headers=headers,
        )
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot publish to {outgoing.topic}: {exc}") from exc


Handler = Callable[[E], Awaitable[Sequence[Outgoing]]]
Publish = Callable[[Outgoing, dict[str, str] | None], Awaitable[None]]


async def process_message(
    raw: bytes,
    key: str | None,
    *,
    source_topic: str,
    event_type: type[E],
    handler: Handler[E],
    publish_outgoing: Publish,
    service: str,
    attempts: int,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Parse, handle, publish the results; DLQ what can never succeed; raise what may later."""

    async def dead_letter(error: str, tries: int) -> None:
        letter = DeadLetter(
            topic=source_topic,
            key=key,
            payload=raw.decode("utf-8", errors="replace"),
            error=error,
            service=service,
            attempts=tries,
        )
        headers = {"x-error": error[:500], "x-source-topic": source_topic, "x-service": service, "x-attempts": str(tries)}
        log.warning("to the DLQ from %s: %s", source_topic, error)
        await publish_outgoing(Outgoing(topic_names.BENCHMARKS_DLQ, key or "", letter), headers)

    try:
        event = event_type.model_validate_json(raw)
    except ValidationError as exc:
        await dead_letter(f"invalid {event_type.__name__}: {_describe(exc)}", 1)
        return

    for attempt in range(1, attempts + 1):
        try:
            for outgoing in await handler(event):
                await publish_outgoing(outgoing, None)
            return
        except BenchmarkError as exc:
            if not exc.retryable:
                await dead_letter(f"{type(exc).__name__}: {exc}", attempt)
                return
            if attempt == attempts:
                raise  # not committed: the message is read again
            delay = min(0.25 * 2**attempt, 10.0) * random.uniform(0.5, 1.0)
            log.warning("%s (attempt %d of %d), retrying in %.1fs", exc, attempt, attempts, delay)
            await sleep(delay)
        except Exception as exc:  # a bug, or data the schema let through: park it, keep going
            log.exception("handler failed on a message from %s", source_topic)
            await dead_letter(f"{type(exc).__name__}: {exc}", attempt)
            return


def subscribe(
    broker: KafkaBroker,
    topics: Topics,
    settings: Settings,
    *,
    topic: str,
    group: str,
    event_type: type[E],
    handler: Handler[E],
    service: str,
    workers: int = 1,
) -> None:
    """Register `handler` for `topic` in consumer group `group`, with the guarantees above.

    `workers` > 1 starts that many consumers in the group within this process: partitions are
    then processed concurrently, each still in order and committed on its own."""

    async def publish_outgoing(outgoing: Outgoing, headers: dict[str, str] | None) -> None:
        await publish(broker, topics, outgoing, headers=headers)

    @broker.subscriber(
        topics.declare(topic),
        group_id=settings.topic_prefix + group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_workers=workers if workers > 1 else None,
    )
    async def consume(message: KafkaMessage) -> None:
        record = message.raw_message
        await process_message(
            message.body,
            record.key.decode("utf-8", errors="replace") if record.key else None,
            source_topic=topic,
            event_type=event_type,
            handler=handler,
            publish_outgoing=publish_outgoing,
            service=service,
            attempts=settings.retry_attempts,
        )


def _describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False)[:3]:
        where = ".".join(str(part) for part in problem["loc"])
        problems.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return "; ".join(problems)


