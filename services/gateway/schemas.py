"""HTTP response bodies of the gateway (kept apart from events and stored documents)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ApiModel", "BenchmarkAccepted", "Progress", "BenchmarkSummary", "BenchmarkPage"]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class BenchmarkAccepted(ApiModel):
    benchmark_id: str
    status: str
    location: str


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

