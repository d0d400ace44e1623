"""HTTP response bodies of the gateway (kept apart from events and stored documents)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.events import RunVerdict, Status, TaskPlan
from shared.results.models import CellDetails, ModelResult
from shared.results.report import Report

if TYPE_CHECKING:
    from services.gateway.runs import Started
    from shared.results.store import BenchmarkRecord

__all__ = ["ApiModel", "BenchmarkAccepted", "Progress", "BenchmarkSummary", "BenchmarkView", "BenchmarkPage"]


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
    status: Status
    trigger: str
    models: list[str] = []
    requested_by: str | None = None
    trigger_detail: str | None = None
    deployment: dict[str, str] | None = None
    created_at: str
    updated_at: str
    reason: str | None = None


def _not_yet(entries: list[Any]) -> bool:
    return not entries


class BenchmarkView(BenchmarkSummary, Report):
    """GET /v1/benchmarks/{id}: the report's fields (once it completed), then the record's summary,
    the run's verdict and its progress. Before the report exists `results` is empty and
    `details`, `tasks` and `drift` are absent."""

    # empty until the report exists (a report has at least one model and task): `details` and
    # `tasks` are then left out of the JSON
    results: list[ModelResult] = []
    details: list[CellDetails] = Field(default=[], exclude_if=_not_yet)
    tasks: list[TaskPlan] = Field(default=[], exclude_if=_not_yet)
    verdict: RunVerdict | None
    """Against the suite's baseline; null while the benchmark is pending or running."""
    progress: Progress

    @classmethod
    def of(cls, record: BenchmarkRecord, *, verdict: RunVerdict | None, progress: Progress) -> BenchmarkView:
        """The stored report (a JSON dict) with the record's summary over it."""
        return cls.model_validate({**(record.report or {}), **record.summary(), "verdict": verdict, "progress": progress})


class BenchmarkPage(ApiModel):
    items: list[BenchmarkSummary]
    limit: int
    offset: int
