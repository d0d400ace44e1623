"""Kafka wiring shared by every service: topic names, publishing, and the consume loop.

The consume loop is where delivery guarantees live, once for every service:
- offsets are committed only after the handler's output is published or stored (at least once);
- a message that does not parse, or carries an unknown schemaVersion, goes to the DLQ with the
  error and the original payload (kept intact: base64 when not UTF-8, cut with its size and digest
  when too large), and the consumer keeps going;
- a retryable failure (store or broker unreachable) is retried with backoff; after the retry
  budget the message is not committed and is read again, so nothing is lost;
- any other failure sends the message to the DLQ with the error: nothing is logged-and-dropped;
- a message that cannot even be dead-lettered after the retry budget is skipped with one error
  line and a count (`benchmark_messages_skipped_total`): it is never re-read forever.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from shared import topics as topic_names
from shared.errors import BenchmarkError, BrokerUnavailable, MessageTooLarge
from shared.events import DeadLetter, Event
from shared.kafka_security import broker_security
from shared.logs import OutageLog
from shared.partitioner import ShardPartitioner
from shared.settings import Settings

__all__ = [
    "Outgoing",
    "Topics",
    "DeliveryTelemetry",
    "create_broker",
    "publish",
    "subscribe",
    "process_message",
    "dead_letter_for",
]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

# High-volume topics get `settings.partitions`; the rest `settings.control_partitions`.
_DATA_TOPICS = frozenset({topic_names.BENCHMARKS_WORK, topic_names.BENCHMARKS_OUTPUTS, topic_names.BENCHMARKS_SCORES})
# Topics whose messages belong to one benchmark (keyed by its id, or by "id:model:task:shard")
_BENCHMARK_TOPICS = frozenset(
    {
        topic_names.BENCHMARKS_REQUESTED,
        topic_names.BENCHMARKS_PLANNED,
        topic_names.BENCHMARKS_WORK,
        topic_names.BENCHMARKS_OUTPUTS,
        topic_names.BENCHMARKS_SCORES,
    }
)
_BENCHMARK_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_ERROR_CHARS = 2000
_KEY_CHARS = 500


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    """Logical topic name from shared.topics (the prefix is added when publishing)."""
    key: str
    event: Event

    @property
    def wire_key(self) -> str:
        """The Kafka key: scoped by the event's tenant (`acme/bm_...`), partitioned as the key says."""
        return f"{self.event.tenant}/{self.key}"


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

    @property
    def max_message_bytes(self) -> int:
        return self._settings.max_message_bytes


class DeliveryTelemetry:
    """What the consume loop parks and skips, per service and source topic (bounded labels)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.dead_lettered = Counter(
            "benchmark_messages_dead_lettered",
            "Messages sent to benchmarks.dlq, by consuming service and source topic",
            ("service", "topic"),
            registry=self.registry,
        )
        self.skipped = Counter(
            "benchmark_messages_skipped",
            "Messages skipped because not even a dead letter of them could be published",
            ("service", "topic"),
            registry=self.registry,
        )


class Outage(Protocol):
    """Logs an outage once, reminders at most every so often, and the recovery (shared/logs.py)."""

    def failed(self, reason: str) -> None: ...

    def recovered(self) -> None: ...


def create_broker(settings: Settings, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        graceful_timeout=settings.shutdown_timeout_s,  # on SIGTERM, finish the messages in flight first
        security=broker_security(settings),  # SASL / TLS from the settings (shared/kafka_security.py)
        partitioner=ShardPartitioner(),  # a benchmark's shards spread evenly over the partitions
        logger=log,
    )


async def publish(broker: KafkaBroker, topics: Topics, outgoing: Outgoing, *, headers: dict[str, str] | None = None) -> None:
    wire = outgoing.event.to_wire()
    if len(wire) > topics.max_message_bytes:
        raise MessageTooLarge(_too_large(outgoing, len(wire), topics.max_message_bytes))
    try:
        await broker.publish(wire, topic=topics.name(outgoing.topic), key=outgoing.wire_key.encode(), headers=headers)
    except (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError) as exc:
        raise MessageTooLarge(
            f"{_too_large(outgoing, len(wire), topics.max_message_bytes)}: the broker refused it ({exc})"
        ) from exc
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot publish to {outgoing.topic}: {exc}") from exc


def _too_large(outgoing: Outgoing, size: int, limit: int) -> str:
    return (
        f"{type(outgoing.event).__name__} for {outgoing.topic} (key {outgoing.wire_key[:200]!r}) is {size:,} bytes;"
        f" a message holds at most {limit:,} (BENCH_MAX_MESSAGE_BYTES)"
    )


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
    payload_limit: int = 256_000,
    telemetry: DeliveryTelemetry | None = None,
    outage: Outage | None = None,
    dead_letters: bool = True,
    event: E | None = None,
) -> None:
    """Parse, handle, publish the results; DLQ what can never succeed; raise what may later.

    `event` is `raw` already parsed by the caller (shared/parallel_consumer.py parses to schedule).

    `dead_letters=False` is for the DLQ's own consumer: what it cannot process is skipped (with a
    line and a count), never dead-lettered again. `outage` hears of retryable failures and of the
    next success, so an outage is logged once, not once per message."""
    counts = telemetry or DeliveryTelemetry()

    async def park(error: str, tries: int) -> None:
        error = error[:_ERROR_CHARS]
        why_skipped = "the DLQ's own messages are not dead-lettered again"
        if dead_letters:
            letter = dead_letter_for(
                raw, key, topic=source_topic, error=error, service=service, attempts=tries, payload_limit=payload_limit
            )
            headers = {"x-error": error[:500], "x-source-topic": source_topic, "x-service": service, "x-attempts": str(tries)}
            for attempt in range(1, attempts + 1):
                try:
                    await publish_outgoing(Outgoing(topic_names.BENCHMARKS_DLQ, (key or "")[:_KEY_CHARS], letter), headers)
                except Exception as exc:  # noqa: BLE001 - whatever breaks the DLQ path, the message must not wedge the partition
                    why_skipped = f"not even its dead letter could be published: {type(exc).__name__}: {str(exc)[:300]}"
                    if not (isinstance(exc, BenchmarkError) and exc.retryable) or attempt == attempts:
                        break
                    await sleep(_backoff(attempt))
                else:
                    log.warning("to the DLQ from %s (key %.100r): %s", source_topic, key, error[:300])
                    counts.dead_lettered.labels(service=service, topic=source_topic).inc()
                    return
        log.error(
            "skipped a message from %s (key %.100r, %d bytes; %s): %s", source_topic, key, len(raw), error[:300], why_skipped
        )
        counts.skipped.labels(service=service, topic=source_topic).inc()

    if event is None:
        try:
            event = event_type.model_validate_json(raw)
        except ValidationError as exc:
            await park(f"invalid {event_type.__name__}: {_describe(exc)}", 1)
            return

    for attempt in range(1, attempts + 1):
        try:
            # all at once: the producer batches them instead of one acks=all round trip each
            # (a plan's hundreds of work items); every one is settled before the message is committed
            sent = await asyncio.gather(*(publish_outgoing(o, None) for o in await handler(event)), return_exceptions=True)
            for failure in (result for result in sent if isinstance(result, BaseException)):
                raise failure
            if outage is not None:
                outage.recovered()
            return
        except BenchmarkError as exc:
            if not exc.retryable:
                await park(f"{type(exc).__name__}: {exc}", attempt)
                return
            if outage is not None:
                outage.failed(f"{type(exc).__name__}: {str(exc)[:300]}")
            elif attempt == 1:
                log.warning("%s, retrying", exc)
            if attempt == attempts:
                raise  # not committed: the message is read again
            await sleep(_backoff(attempt))
        except Exception as exc:  # a bug, or data the schema let through: park it, keep going
            log.exception("handler failed on a message from %s", source_topic)
            await park(f"{type(exc).__name__}: {exc}", attempt)
            return


def _backoff(attempt: int) -> float:
    return min(0.25 * 2.0**attempt, 10.0) * random.uniform(0.5, 1.0)


def dead_letter_for(
    raw: bytes, key: str | None, *, topic: str, error: str, service: str, attempts: int, payload_limit: int
) -> DeadLetter:
    """The dead letter of `raw`: its text when it is UTF-8 and fits in `payload_limit` bytes as
    JSON, else its bytes in base64, cut to fit, with the original size and digest beside."""
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    encoding: Literal["utf-8", "base64"]
    if text is not None and len(json.dumps(text)) <= payload_limit:
        payload, encoding, truncated = text, "utf-8", False
    else:
        kept = raw[: payload_limit * 3 // 4]  # base64 writes 4 characters for 3 bytes
        payload, encoding, truncated = base64.b64encode(kept).decode("ascii"), "base64", len(kept) < len(raw)
    fields = _fields_of(raw)
    return DeadLetter(
        tenant=_tenant_of(fields),
        topic=topic,
        key=None if key is None else key[:_KEY_CHARS],
        payload=payload,
        payload_encoding=encoding,
        payload_bytes=len(raw),
        payload_sha256=hashlib.sha256(raw).hexdigest(),
        payload_truncated=truncated,
        benchmark_id=_benchmark_of(fields, key, topic),
        error=error,
        service=service,
        attempts=attempts,
    )


def _fields_of(raw: bytes) -> dict[str, Any]:
    """The top-level fields of a JSON object payload; {} for anything else."""
    try:
        found = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def _tenant_of(fields: dict[str, Any]) -> str:
    tenant = fields.get("tenant")
    return tenant if isinstance(tenant, str) and _BENCHMARK_ID.fullmatch(tenant) else "default"


def _benchmark_of(fields: dict[str, Any], key: str | None, topic: str) -> str | None:
    """Which benchmark a message of `topic` belonged to: its `benchmarkId`, else its key's."""
    if topic not in _BENCHMARK_TOPICS:
        return None
    found = fields.get("benchmarkId")
    if not isinstance(found, str) and key:
        found = key.rpartition("/")[2].split(":", 1)[0]  # tenant/benchmark[:shard]
    return found if isinstance(found, str) and _BENCHMARK_ID.fullmatch(found) else None


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
    telemetry: DeliveryTelemetry,
    workers: int = 1,
    dead_letters: bool = True,
) -> None:
    """Register `handler` for `topic` in consumer group `group`, with the guarantees above.

    `workers` > 1 starts that many consumers in the group within this process: partitions are
    then processed concurrently, each still in order and committed on its own."""
    outage = OutageLog(log, what=f"the {service}'s backing services (consuming {topic})", reminder_s=settings.log_reminder_s)

    async def publish_outgoing(outgoing: Outgoing, headers: dict[str, str] | None) -> None:
        await publish(broker, topics, outgoing, headers=headers)

    @broker.subscriber(
        topics.declare(topic),
        group_id=settings.topic_prefix + group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_workers=workers if workers > 1 else None,
        # a static member (KIP-345) when the process has a stable name: restarted, it gets its
        # partitions back at once. One name per consumer: a service may have several in a group
        # (the aggregator's planned, scores and DLQ), and members sharing a name fence each other
        group_instance_id=f"{settings.instance_id}-{group}-{topic}" if settings.instance_id and workers == 1 else None,
        session_timeout_ms=int(settings.kafka_session_timeout_s * 1000),
        heartbeat_interval_ms=max(100, int(settings.kafka_session_timeout_s * 1000) // 3),
    )
    async def consume(message: KafkaMessage) -> None:
        record = message.raw_message
        if isinstance(record, tuple):  # a batch: never, this subscriber takes one message at a time
            raise TypeError(f"{topic}: a batch of {len(record)} messages where one was expected")
        await process_message(
            message.body,
            record.key.decode("utf-8", errors="replace") if record.key else None,
            source_topic=topic,
            event_type=event_type,
            handler=handler,
            publish_outgoing=publish_outgoing,
            service=service,
            attempts=settings.retry_attempts,
            payload_limit=settings.dlq_payload_bytes,
            telemetry=telemetry,
            outage=outage,
            dead_letters=dead_letters,
        )


def leave_group_on_stop(consumer: Any) -> None:
    """Make a static member send LeaveGroup when it stops, as a dynamic one does. aiokafka never
    sends it for a static member (it expects the same member back); a clean stop (scale-in, a
    rollout to pods of new names) must hand its partitions over at once, not after the session
    timeout. Called only on a clean stop: a crashed process sends nothing either way."""
    coordinator = getattr(consumer, "_coordinator", None)  # aiokafka's, private: set when started
    if coordinator is not None:
        coordinator._group_instance_id = None


def leave_groups_on_stop(broker: KafkaBroker) -> None:
    """leave_group_on_stop for every consumer of the broker's subscribers (before it stops them)."""
    for subscriber in broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is not None:
            leave_group_on_stop(consumer)


def _describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False)[:3]:
        where = ".".join(str(part) for part in problem["loc"])
        problems.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return "; ".join(problems)
