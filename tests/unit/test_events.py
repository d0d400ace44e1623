"""Event contracts: frozen, camelCase on the wire, unknown schema versions rejected."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared import topics
from shared.events import BenchmarkRequested, SampleOutput, SampleScores
from shared.spec import parse_spec

SPEC = parse_spec({"name": "n", "models": ["builtin:lead"], "tasks": [{"name": "t", "type": "qa", "dataset": "d.jsonl"}]})


def test_events_round_trip_in_camel_case() -> None:
    event = BenchmarkRequested(benchmark_id="bm_1", spec=SPEC)
    wire = json.loads(event.to_wire())
    assert wire["benchmarkId"] == "bm_1" and wire["schemaVersion"] == 1 and wire["tenant"] == "default"
    assert wire["spec"]["tasks"][0]["dataset"]["idField"] == "id"
    assert BenchmarkRequested.model_validate_json(event.to_wire()) == event


def test_events_are_frozen() -> None:
    event = BenchmarkRequested(benchmark_id="bm_1", spec=SPEC)
    with pytest.raises(ValidationError):
        event.benchmark_id = "other"  # type: ignore[misc]


def test_unknown_schema_version_is_rejected() -> None:
    wire = json.loads(SampleScores(benchmark_id="b", model="m", task="t", shard=0, scores=[]).to_wire())
    wire["schemaVersion"] = 2
    with pytest.raises(ValidationError, match="schemaVersion"):
        SampleScores.model_validate(wire)


def test_every_topic_has_one_event_type() -> None:
    assert set(topics.EVENT_BY_TOPIC) == {
        "benchmarks.requested",
        "benchmarks.planned",
        "benchmarks.work",
        "benchmarks.outputs",
        "benchmarks.scores",
        "benchmarks.completed",
        "deployments",
        "benchmarks.dlq",
    }


def test_sample_output_defaults() -> None:
    output = SampleOutput(sample_id="1", prediction="p", references=["r"], latency_ms=1.0)
    assert output.error is None and output.prompt_tokens is None
