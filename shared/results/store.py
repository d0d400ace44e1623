"""The repository interface every store implements (SQLite embedded, MongoDB distributed).

A store is bound to one tenant: every read and write filters on it. A sample's score is stored
once, keyed by benchmarkId + model + task + sampleId (a unique index): a redelivered or re-run
shard never counts twice, and the first stored score stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.results.report import ScoredSample
from shared.events import BenchmarkPlanned, BenchmarkRequested, DeploymentRef, SampleScores, Status

__all__ = ["BenchmarkFilter", "BenchmarkRecord", "BenchmarkStore", "InFlight", "TrackedStore", "cause_of"]

@dataclass(frozen=True, slots=True)
class BenchmarkRecord:
    benchmark_id: str
    tenant: str
    name: str
    suite: str
    status: Status
    trigger: str
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any]
    plan: BenchmarkPlanned | None
    report: dict[str, Any] | None
    reason: str | None
    cause: dict[str, Any] = field(default_factory=dict)
    """Who or what asked for the run (camelCase keys): requestedBy, triggerDetail, deployment."""
    request_digest: str | None = None
    """What was asked for, hashed: a submission replayed with the same Idempotency-Key must match it."""

    @property
    def models(self) -> list[str]:
        return [model["name"] for model in self.spec.get("models", [])]

    @property
    def requested_by(self) -> str | None:
        return self.cause.get("requestedBy")

    @property
    def deployment(self) -> DeploymentRef | None:
        found = self.cause.get("deployment")
        return DeploymentRef.model_validate(found) if found else None

    def summary(self) -> dict[str, Any]:
        return {
            "benchmarkId": self.benchmark_id,
            "name": self.name,
            "suite": self.suite,
            "status": self.status,
            "trigger": self.trigger,
            "models": self.models,
            "requestedBy": self.requested_by,
            "triggerDetail": self.cause.get("triggerDetail"),
            "deployment": self.cause.get("deployment"),
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "reason": self.reason,
        }


def cause_of(request: BenchmarkRequested) -> dict[str, Any]:
    """The request's who-and-why fields, as stored beside the benchmark."""
    return request.model_dump(mode="json", by_alias=True, include={"requested_by", "trigger_detail", "deployment"}, exclude_none=True)


@dataclass(frozen=True, slots=True)
class InFlight:
    """A benchmark not finished yet, as the reconciler tracks it (services/aggregator/reconciler.py)."""

    benchmark_id: str
    tenant: str
    created_at: datetime
    request: str | None
    """The BenchmarkRequested as first sent (JSON): published from the outbox, re-sent to re-drive."""
    queued: bool
    """Whether Kafka has taken the request; until then it waits in the outbox."""
    scored: int | None = None
    """Scores stored when the reconciler last looked, and when that count last changed."""
    progress_at: datetime | None = None
    redrives: int = 0


@dataclass(frozen=True, slots=True)
class BenchmarkFilter:
    """What `list_benchmarks` keeps; None matches anything."""

    suite: str | None = None
    model: str | None = None
    """Benchmarks that ran a model of this name."""
    trigger: str | None = None
    status: str | None = None


class BenchmarkStore(Protocol):
    async def create_benchmark(self, request: BenchmarkRequested) -> bool:
        """Record a requested benchmark as `pending`; a second call with the same id changes
        nothing. True when this call created it."""
        ...

    async def save_plan(self, plan: BenchmarkPlanned) -> None:
        """Attach the plan and move the benchmark to `running`."""
        ...

    async def save_scores(self, scores: SampleScores) -> int:
        """Store a shard's per-sample scores, ignoring samples stored before; return how many
        were new."""
        ...

    async def count_scores(self, benchmark_id: str) -> int:
        """Scored samples of the benchmark, counted in the store (a scan on FerretDB)."""
        ...

    async def load_scores(self, benchmark_id: str) -> list[ScoredSample]: ...

    async def complete(self, benchmark_id: str, report: dict[str, Any]) -> None: ...

    async def fail(self, benchmark_id: str, reason: str) -> None: ...

    async def get_benchmark(self, benchmark_id: str) -> BenchmarkRecord | None: ...

    async def list_benchmarks(
        self, *, limit: int = 20, offset: int = 0, where: BenchmarkFilter = BenchmarkFilter()
    ) -> list[BenchmarkRecord]:
        """Newest first."""
        ...

    async def set_baseline(self, suite: str, models: dict[str, str]) -> None:
        """Pin, for each model named, the benchmark id that is the suite's baseline for it."""
        ...

    async def get_baseline(self, suite: str) -> dict[str, str]:
        """The suite's baseline: model -> benchmark id (empty when none is pinned)."""
        ...

    async def close(self) -> None: ...


class TrackedStore(BenchmarkStore, Protocol):
    """A store that also keeps the unfinished benchmarks' outbox and progress (`in_flight`):
    the distributed store, for the aggregator's handlers and its reconciler."""

    def for_tenant(self, tenant: str) -> TrackedStore:
        """The same store bound to another tenant (the aggregator serves every tenant's events)."""
        ...

    async def unfinished(self, *, limit: int) -> list[InFlight]:
        """Unfinished benchmarks of every tenant, oldest first (the reconciler repairs them all)."""
        ...

    async def mark_queued(self, benchmark_id: str) -> None: ...

    async def note_progress(self, benchmark_id: str, *, scored: int, at: datetime, redrives: int | None = None) -> None: ...

    async def forget_in_flight(self, benchmark_id: str) -> None: ...

    async def shard_counts(self, benchmark_id: str) -> dict[tuple[str, str, int], int]:
        """Stored scores per model x task x shard."""
        ...
