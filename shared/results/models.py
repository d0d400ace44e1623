"""The report's typed parts: its cells, its rows, and comparisons (a report's `drift` is one).

    Report (shared/results/report.py)       benchmarkId, name, suite, status, then
      results: [ModelResult]                {model, <task>: {<metric>: value}}: the seed's shape
      details: [CellDetails]                per model x task: n, errors, latency, tokens, cost,
        metrics: {<metric>: MetricValue}      and each metric's value with its 95% CI
      tasks: [TaskPlan]                     dataset, digest, sample count and metrics per task
      drift: Comparison                     only when the suite had a baseline
    Comparison                              what GET /v1/benchmarks/{id}/compare answers
      cells: [ComparisonCell]               delta, CI, adjusted p, MDE, verdict per cell
        worst: [SampleDelta]
      refused: [Refusal]                    what was not compared, and why

Each is built in one place (the report in report.py, a comparison in comparison.py) and read as
a model by the gateway (its response models: the OpenAPI document shows them), the aggregator's
telemetry and the completion event. On the wire they are the JSON the report always had:
`to_json()` (`model_dump(mode="json", by_alias=True)`) is that dict, key for key and in the same
order. The stores keep that dict; readers convert at the boundary (`Report.model_validate`).
Keys a model does not know are kept (extra="allow"), so a report read and written again by an
older reader loses nothing. An infinite float (the MDE of a single pair) stays a float in
`to_json()` and is `null` in JSON text, as it always was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "ReportPart",
    "Verdict",
    "PairedTest",
    "MetricValue",
    "Latency",
    "Tokens",
    "CellDetails",
    "ModelResult",
    "SampleDelta",
    "ComparisonCell",
    "Refusal",
    "Comparison",
    "absent",
]

Verdict = Literal["regressed", "improved", "unchanged"]
"""One compared cell against its baseline (a whole run's verdict: shared.events.RunVerdict)."""
PairedTest = Literal["paired-bootstrap", "mcnemar-exact"]
"""How a cell's p-value was found: a sign-flip permutation test, or McNemar's for right-or-wrong scores."""


def absent(value: object) -> bool:
    """For `Field(exclude_if=absent)`: a key the JSON leaves out rather than writing null."""
    return value is None


class ReportPart(BaseModel):
    """Frozen, camelCase on the wire, unknown keys kept; field docstrings show in the OpenAPI document."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )

    def to_json(self) -> dict[str, Any]:
        """The JSON dict: what the stores keep and dict readers read."""
        return self.model_dump(mode="json", by_alias=True)


class MetricValue(ReportPart):
    """One metric of one model x task (its n is the cell's `samples`); null without scored samples."""

    value: float | None
    """The sample mean, or the metric's corpus statistic (BLEU), on the metric's report scale."""
    ci_low: float | None
    """Seeded bootstrap 95% confidence interval."""
    ci_high: float | None


class Latency(ReportPart):
    """Milliseconds, over the samples the model answered; null when it answered none."""

    p50: float | None
    p95: float | None


class Tokens(ReportPart):
    prompt: int
    completion: int


class CellDetails(ReportPart):
    """One model x task beyond its means: how many samples, errors, latency, tokens, cost, CIs."""

    model: str
    task: str
    samples: int
    """n: the samples scored."""
    expected_samples: int
    errors: int
    """Samples the model gave no answer for (each scored as an empty prediction)."""
    error_rate: float
    latency_ms: Latency
    tokens: Tokens
    cost: float | None
    """From the model config's price table; null without one. Errored samples cost nothing."""
    metrics: dict[str, MetricValue]


TaskValues = dict[str, dict[str, float | None]]
"""Task name -> metric name -> value."""


class ModelResult(ReportPart):
    """A row of `results`: `model`, then one key per task (the task's name) holding
    `{metric: value}`, null where no sample was scored."""

    model: str
    __pydantic_extra__: TaskValues = Field(init=False)

    @classmethod
    def of(cls, model: str, tasks: Mapping[str, Mapping[str, float | None]]) -> ModelResult:
        return cls.model_validate({"model": model, **tasks})

    @property
    def tasks(self) -> TaskValues:
        """Task name -> metric name -> value, in the report's order."""
        return dict(self.__pydantic_extra__ or {})


class SampleDelta(ReportPart):
    sample_id: str
    delta: float
    """current - baseline on this sample."""


class ComparisonCell(ReportPart):
    """One model x task x metric compared over the samples both runs scored (shared/results/drift.py)."""

    model: str
    task: str
    metric: str
    samples: int
    """n: the samples both runs scored."""
    baseline: float
    current: float
    delta: float
    """mean(current - baseline)."""
    ci_low: float
    """Paired bootstrap 95% confidence interval of `delta`."""
    ci_high: float
    p_value: float
    p_adjusted: float
    """Benjamini-Hochberg adjusted across every cell of the comparison."""
    minimum_detectable_effect: float | None
    """The smallest |delta| this many pairs detect at 80% power; infinite (null in JSON) for one pair."""
    tolerance: float
    test: PairedTest
    verdict: Verdict
    """`regressed` or `improved` only when significant after adjustment, the CI excludes zero and
    |delta| is at least the tolerance; `unchanged` otherwise."""
    worst: list[SampleDelta]
    """The samples that got worst, most negative first (at most five; none that did not get worse)."""


class Refusal(ReportPart):
    """A model (task null: all its tasks) or a model x task that was not compared, and why."""

    model: str
    task: str | None
    reason: str


class Comparison(ReportPart):
    """A benchmark compared with the run pinned as baseline for each of its models (or with one other run)."""

    benchmark_id: str
    against: dict[str, str]
    """Model -> the benchmark it was compared with."""
    regressed: bool
    """Whether any cell regressed."""
    cells: list[ComparisonCell]
    refused: list[Refusal]
