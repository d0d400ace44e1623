"""Kafka topic names and which event travels on each (DESIGN.md, "Stages and topics")."""

from __future__ import annotations

from shared import events

__all__ = [
    "BENCHMARKS_REQUESTED",
    "BENCHMARKS_PLANNED",
    "BENCHMARKS_WORK",
    "BENCHMARKS_OUTPUTS",
    "BENCHMARKS_SCORES",
    "BENCHMARKS_COMPLETED",
    "DEPLOYMENTS",
    "BENCHMARKS_DLQ",
    "EVENT_BY_TOPIC",
]

BENCHMARKS_REQUESTED = "benchmarks.requested"
BENCHMARKS_PLANNED = "benchmarks.planned"
BENCHMARKS_WORK = "benchmarks.work"
BENCHMARKS_OUTPUTS = "benchmarks.outputs"
BENCHMARKS_SCORES = "benchmarks.scores"
BENCHMARKS_COMPLETED = "benchmarks.completed"
DEPLOYMENTS = "deployments"
BENCHMARKS_DLQ = "benchmarks.dlq"

EVENT_BY_TOPIC: dict[str, type[events.Event]] = {
    BENCHMARKS_REQUESTED: events.BenchmarkRequested,
    BENCHMARKS_PLANNED: events.BenchmarkPlanned,
    BENCHMARKS_WORK: events.WorkItem,
    BENCHMARKS_OUTPUTS: events.ModelOutputs,
    BENCHMARKS_SCORES: events.SampleScores,
    BENCHMARKS_COMPLETED: events.BenchmarkCompleted,
    DEPLOYMENTS: events.DeploymentEvent,
    BENCHMARKS_DLQ: events.DeadLetter,
}
