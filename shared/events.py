"""Every event of the pipeline (DESIGN.md, "Stages and topics").

Events are facts, frozen pydantic v2 models, JSON with camelCase keys on the wire. Each carries
`schemaVersion` (consumers reject versions they do not know) and `tenant`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import Field

from shared.results.models import Comparison, ModelResult
from shared.spec import BenchmarkSpec, ModelConfig, SpecModel, TaskSpec
from shared.task_types import TaskTypeName

__all__ = [
    "SCHEMA_VERSION",
    "DEFAULT_TENANT",
    "TENANT_PATTERN",
    "Trigger",
    "ClientTrigger",
    "Event",
    "Sample",
    "TaskPlan",
    "ShardRef",
    "Redrive",
    "BenchmarkRequested",
    "BenchmarkPlanned",
    "WorkItem",
    "SampleOutput",
    "ModelOutputs",
    "SampleScore",
    "SampleScores",
    "BenchmarkCompleted",
    "DeploymentEvent",
    "DeploymentRef",
    "RunVerdict",
    "DeadLetter",
    "utc_now",
    "new_benchmark_id",
]

SCHEMA_VERSION: Final = 1
DEFAULT_TENANT = "default"

Trigger = Literal["api", "cli", "schedule", "deployment", "ci"]
ClientTrigger = Literal["api", "ci"]
"""The triggers a client may claim for a run it submits; the others are the service's own."""
Status = Literal["pending", "running", "completed", "failed"]
"""Where a benchmark is in its life, as stored and as the API reports it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_benchmark_id() -> str:
    return "bm_" + secrets.token_hex(6)


class WireModel(SpecModel):
    """Frozen, camelCase, unknown fields refused: the same rules as the spec's models."""

    def to_wire(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""A tenant's name: safe as a Kafka key prefix, a Prometheus label value and in a document id."""


class Event(WireModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    tenant: str = Field(default=DEFAULT_TENANT, pattern=TENANT_PATTERN)
    """Whose benchmark: from the submitter's API key, never from a request body."""


class Sample(WireModel):
    """One dataset record, normalised: what the model sees and the gold answers."""

    id: str
    inputs: dict[str, str]
    references: list[str]


class TaskPlan(WireModel):
    name: str
    type: TaskTypeName
    dataset: str
    """Where the data came from (path or URL), for the reader of a report."""
    dataset_digest: str
    """sha256 over the normalised records evaluated (after mapping, limit and seed)."""
    samples: int
    metrics: list[str]
    stemming: bool = True
    shard_sizes: list[int] = Field(default_factory=list)
    """Samples in each shard of this task (the same for every model): how a re-drive tells the
    shards still missing. Empty in plans made before it existed."""


class DeploymentRef(WireModel):
    """Which deployment a benchmark judges: a deployment system matches verdicts by these."""

    model: str
    version: str


class ShardRef(WireModel):
    model: str
    task: str
    shard: int


class Redrive(WireModel):
    """A request sent again because its benchmark stopped moving (services/aggregator/reconciler.py)."""

    attempt: int = Field(ge=1)
    shards: list[ShardRef] | None = None
    """The shards still missing: only these run again. None: plan and run everything again."""


class BenchmarkRequested(Event):
    benchmark_id: str
    spec: BenchmarkSpec
    trigger: Trigger = "api"
    requested_by: str | None = None
    """Who or what caused the run: a user, a CI job, the scheduler, a deployment system."""
    trigger_detail: str | None = None
    """Why, in words: the schedule's occurrence (and whether it was a catch-up), the deployment..."""
    deployment: DeploymentRef | None = None
    requested_at: datetime = Field(default_factory=utc_now)
    redrive: Redrive | None = None


class BenchmarkPlanned(Event):
    """What the aggregator must see before a benchmark is complete: every model x task x sample."""

    benchmark_id: str
    name: str
    suite: str
    models: list[str]
    tasks: list[TaskPlan]
    shards: int
    error: str | None = None
    """Set when the benchmark could not be planned (e.g. a dataset URL went away): it fails."""
    planned_at: datetime = Field(default_factory=utc_now)

    @property
    def expected_samples(self) -> int:
        return len(self.models) * sum(task.samples for task in self.tasks)


class WorkItem(Event):
    """One shard: a model, a task and the samples to run, so runners and scorers stay stateless."""

    benchmark_id: str
    model: ModelConfig
    task: TaskSpec
    """Resolved: metrics and (for classification) labels filled in."""
    shard: int
    samples: list[Sample]
    examples: list[Sample] = Field(default_factory=list)
    """Few-shot examples shown before each sample (prompt.fewShot), not evaluated."""
    trigger: Trigger = "api"
    """What started the benchmark: the runners run some triggers' shards first (BENCH_PRIORITY_TRIGGERS)."""

    @property
    def key(self) -> str:
        return f"{self.benchmark_id}:{self.model.name}:{self.task.name}:{self.shard}"


class SampleOutput(WireModel):
    sample_id: str
    prediction: str
    references: list[str]
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    """From the model config's price table and the response's token usage."""
    error: str | None = None
    """Why the model gave no answer; the sample then scores as an empty prediction."""


class ModelOutputs(Event):
    benchmark_id: str
    model: str
    task: str
    task_type: TaskTypeName
    metrics: list[str]
    stemming: bool = True
    shard: int
    outputs: list[SampleOutput]

    @property
    def key(self) -> str:
        return f"{self.benchmark_id}:{self.model}:{self.task}:{self.shard}"


class SampleScore(WireModel):
    sample_id: str
    scores: dict[str, float]
    """Metric name -> value on the metric's report scale."""
    details: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Metric name -> extra per-sample figures (e.g. ROUGE precision and recall)."""
    prediction: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    error: str | None = None


class SampleScores(Event):
    benchmark_id: str
    model: str
    task: str
    shard: int
    scores: list[SampleScore]


RunVerdict = Literal["regressed", "improved", "unchanged", "no-baseline", "failed"]
"""A whole run against its baseline (each comparison cell has its own verdict: shared/results/drift.py)."""


class BenchmarkCompleted(Event):
    benchmark_id: str
    name: str
    suite: str
    status: Literal["completed", "failed"]
    verdict: RunVerdict = "no-baseline"
    """The whole run against the suite's baseline: `regressed` if any cell regressed (what a
    deployment system rolls back on), else `improved` if any improved, else `unchanged`."""
    reason: str | None = None
    trigger: Trigger = "api"
    requested_by: str | None = None
    deployment: DeploymentRef | None = None
    results: list[ModelResult] = Field(default_factory=list)
    """The report's `results` (empty when the benchmark failed)."""
    drift: Comparison | None = None
    """The comparison with the suite's baseline, when it has one (verdict per cell)."""
    completed_at: datetime = Field(default_factory=utc_now)


class DeploymentEvent(Event):
    """A model version went live (or is about to): benchmark it with `suite` against the baseline.

    The model runs under the name `model`, so the suite's baseline for that name is what it is
    compared with. Its configuration is `modelConfig` if given, else the suite's model of that
    name, with `endpoint` (if given) as its base URL. One run per model + version, however often
    the event is delivered."""

    model: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    suite: str = Field(min_length=1, max_length=100)
    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    model_settings: ModelConfig | None = Field(default=None, alias="modelConfig")
    deployed_by: str | None = Field(default=None, max_length=200)
    deployed_at: datetime | None = None


class DeadLetter(Event):
    """A message a consumer could not process, kept whole or, when it is too large or not UTF-8,
    kept intact in base64 and cut to a bounded size with the original's size and digest."""

    topic: str
    key: str | None
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_bytes: int | None = None
    """The original payload's size in bytes."""
    payload_sha256: str | None = None
    """The original payload's digest, so a cut payload can still be matched with its source."""
    payload_truncated: bool = False
    benchmark_id: str | None = None
    """The benchmark the message belonged to, when it could be told: that benchmark is failed."""
    error: str
    service: str
    attempts: int = 1
    failed_at: datetime = Field(default_factory=utc_now)
