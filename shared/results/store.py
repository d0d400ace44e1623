"""The repository interface every store implements (SQLite embedded, MongoDB distributed).

Both stores keep one contract, checked case by case against both in
tests/integration/test_store_contract.py:
- A store is bound to one tenant: every read and write filters on it, and stores of two tenants
  on one database (or one file) see nothing of each other. `for_tenant` gives the same store
  bound to another tenant.
- A benchmark's life: `pending` (requested) -> `running` (planned) -> `completed` or `failed`.
  Completing is decided by the caller (shared/results/completion.py), and its report is stored
  whatever the status; a failure never overwrites a completed report or an earlier failure.
- A sample's score is stored once, keyed by benchmarkId + model + task + sampleId (a unique
  index): a redelivered or re-run shard never counts twice, and the first stored score stands.
- Times are kept in UTC to the millisecond (what BSON holds) and read back timezone-aware.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.events import BenchmarkPlanned, BenchmarkRequested, DeploymentRef, SampleScores, Status
from shared.results.report import ScoredSample

__all__ = [
    "FINISHED",
    "REASON_CHARS",
    "SCORE_BATCH",
    "BenchmarkFilter",
    "BenchmarkRecord",
    "BenchmarkStore",
    "InFlight",
    "TrackedStore",
    "as_utc",
    "cause_of",
    "check_page",
    "stored_reason",
    "stored_time",
]

FINISHED: tuple[Status, ...] = ("completed", "failed")
"""Statuses `fail` leaves as they are."""
REASON_CHARS = 2000
"""A failure's reason is stored up to this many characters."""
SCORE_BATCH = 1000
"""Scores `iter_scores` reads at a time."""


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is taken to be UTC already (as BSON takes it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stored_time(moment: datetime) -> datetime:
    """`moment` as every store keeps it: UTC, cut to the millisecond (BSON's precision)."""
    utc = as_utc(moment)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def stored_reason(reason: str) -> str:
    """A failure's reason as stored: NUL characters written as `\\0`, at most REASON_CHARS
    characters (a reason may quote an exception message of any size)."""
    return reason.replace("\x00", "\\0")[:REASON_CHARS]


def check_page(limit: int, offset: int) -> None:
    """Refuse a page `list_benchmarks` cannot mean (MongoDB reads a limit of 0 as "no limit",
    SQLite a negative one)."""
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must not be negative (limit={limit}, offset={offset})")


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
    return request.model_dump(
        mode="json", by_alias=True, include={"requested_by", "trigger_detail", "deployment"}, exclude_none=True
    )


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
    """What the runtimes, the gateway and the CLI need of a store; the module docstring says
    what holds for every method."""

    @property
    def tenant(self) -> str:
        """The tenant every read and write of this store is bound to."""
        ...

    def for_tenant(self, tenant: str) -> BenchmarkStore:
        """The same store bound to `tenant`, sharing this one's connection: closing either
        closes both."""
        ...

    async def create_benchmark(
        self, request: BenchmarkRequested, *, digest: str | None = None, evaluations: int | None = None
    ) -> bool:
        """Record a requested benchmark as `pending`, created and updated at the request's time;
        `digest` (the request hashed) is kept as the record's `request_digest`, `evaluations`
        (model x sample, when known before planning) counts toward the tenant's quota.
        True when this call created it; when a benchmark of that id exists (requested before, or
        recorded from its plan) nothing changes and the answer is False."""
        ...

    async def save_plan(self, plan: BenchmarkPlanned) -> None:
        """Attach the plan (name and suite from it too) and move a `pending` benchmark to
        `running`; a finished benchmark keeps its status. A benchmark this store never recorded
        is recorded from the plan, `running`, created at `planned_at`, trigger `api`, with an
        empty spec and cause: a plan may come first, or alone, when a producer other than the
        gateway published the request (DESIGN.md, "Stages and topics")."""
        ...

    async def save_scores(self, scores: SampleScores) -> int:
        """Store a shard's per-sample scores, ignoring samples stored before (in this call or an
        earlier one: the first stored score stands); return how many were new. Scores may come
        before their benchmark's plan or record: they are stored all the same."""
        ...

    async def count_scores(self, benchmark_id: str) -> int:
        """Scored samples of the benchmark (0 for an unknown one), counted in the store (a scan
        on FerretDB)."""
        ...

    async def scored_so_far(self, record: BenchmarkRecord) -> int:
        """Scores stored of `record`'s benchmark, for a reader of progress (GET /v1/benchmarks/{id}):
        without counting where counting costs (MongoDB: what the aggregator last noted)."""
        ...

    async def load_scores(self, benchmark_id: str) -> list[ScoredSample]:
        """Every stored score of the benchmark, in no particular order (empty for an unknown one)."""
        ...

    def iter_scores(self, benchmark_id: str, *, batch: int = SCORE_BATCH) -> AsyncIterator[list[ScoredSample]]:
        """`load_scores` a batch of at most `batch` scores at a time, each score once, in no
        particular order: what a reader that keeps only a few figures per sample holds."""
        ...

    async def complete(self, benchmark_id: str, report: dict[str, Any]) -> None:
        """The benchmark becomes `completed` with `report`, its reason cleared, whatever its
        status (the caller decided it is complete: a full report wins over a failure recorded
        while it was being built); nothing for an unknown one."""
        ...

    async def fail(self, benchmark_id: str, reason: str) -> None:
        """A `pending` or `running` benchmark becomes `failed` with `reason` (as `stored_reason`
        keeps it); a finished or unknown one is left as it is: a late failure (a replayed plan
        with an error, a dead letter) never overwrites a completed report or the first
        failure's reason. Callers re-read the record to announce what it holds."""
        ...

    async def get_benchmark(self, benchmark_id: str) -> BenchmarkRecord | None:
        """The benchmark's record, None when this tenant has none of that id."""
        ...

    async def list_benchmarks(
        self, *, limit: int = 20, offset: int = 0, where: BenchmarkFilter = BenchmarkFilter()
    ) -> list[BenchmarkRecord]:
        """Newest first (by `created_at`; equal times by benchmark id, ascending), the ones
        matching every field of `where` that is set; `offset` skipped, at most `limit`
        returned. A negative limit or offset is a ValueError."""
        ...

    async def set_baseline(self, suite: str, models: dict[str, str]) -> None:
        """Pin, for each model named, the benchmark id that is the suite's baseline for it,
        replacing that model's previous pin; other models and other suites keep theirs."""
        ...

    async def get_baseline(self, suite: str) -> dict[str, str]:
        """The suite's baseline: model -> benchmark id, in model name order (empty when none is
        pinned)."""
        ...

    async def close(self) -> None:
        """Release the connection; closing twice is harmless. A closed store is not used again."""
        ...


class TrackedStore(BenchmarkStore, Protocol):
    """A store that also keeps the unfinished benchmarks' outbox and progress (`in_flight`):
    the distributed store, for the aggregator's handlers and its reconciler.

    `create_benchmark` puts the request in the outbox (not queued) before recording the
    benchmark; `save_plan` starts watching a benchmark requested elsewhere (queued, no request
    to re-send); `complete` and `fail` end the watch, whatever the benchmark's status."""

    def for_tenant(self, tenant: str) -> TrackedStore:
        """The same store bound to another tenant (the aggregator serves every tenant's events)."""
        ...

    async def unfinished(self, *, limit: int) -> list[InFlight]:
        """Unfinished benchmarks of every tenant, oldest first (the reconciler repairs them all)."""
        ...

    async def mark_queued(self, benchmark_id: str) -> None:
        """Kafka took the request: it leaves the outbox (nothing when the benchmark is not watched)."""
        ...

    async def note_progress(self, benchmark_id: str, *, scored: int, at: datetime, redrives: int | None = None) -> None:
        """Note the scores stored and when that count last changed (and the re-drives so far,
        when given) on a watched benchmark."""
        ...

    async def forget_in_flight(self, benchmark_id: str) -> None:
        """Stop watching the benchmark (nothing when it is not watched)."""
        ...

    async def shard_counts(self, benchmark_id: str) -> dict[tuple[str, str, int], int]:
        """Stored scores per model x task x shard."""
        ...
