"""HTTP response bodies of the gateway (kept apart from events and stored documents)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from services.gateway.runs import Started

__all__ = ["ApiModel", "BenchmarkAccepted", "Progress", "BenchmarkSummary", "BenchmarkPage"]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class BenchmarkAccepted(ApiModel):
    benchmark_id: str
    status: str
    location: str
    queued: bool = True
    """False while Kafka is away: the benchmark is stored and will be published from the outbox."""
    replayed: bool = False
    """True when an earlier request with the same Idempotency-Key created this benchmark."""

    @classmethod
    def of(cls, started: Started, status: str = "pending") -> BenchmarkAccepted:
        return cls(
            benchmark_id=started.benchmark_id,
            status=status,
            location=f"/v1/benchmarks/{started.benchmark_id}",
            queued=started.queued,
            replayed=not started.created,
        )


class Progress(ApiModel):
    scored: int
    expected: int | None
    """None until the runner has planned the benchmark."""


class BenchmarkSummary(ApiModel):
    benchmark_id: str
    name: str
    suite: str
    status: str
    trigger: str
    models: list[str] = []
    requested_by: str | None = None
    trigger_detail: str | None = None
    deployment: dict[str, str] | None = None
    created_at: str
    updated_at: str
    reason: str | None = None


class BenchmarkPage(ApiModel):
    items: list[BenchmarkSummary]
    limit: int
    offset: int
