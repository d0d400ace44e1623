"""Scorer subscriber: a shard's model outputs -> its per-sample scores."""

from __future__ import annotations

from services.scorer.scoring import score_outputs
from shared import topics
from shared.events import ModelOutputs
from shared.messaging import Outgoing

__all__ = ["on_model_outputs"]


async def on_model_outputs(outputs: ModelOutputs) -> list[Outgoing]:
    scores = score_outputs(outputs)
    # keyed by benchmark: one aggregator partition sees all of a benchmark's scores
    return [Outgoing(topics.BENCHMARKS_SCORES, scores.benchmark_id, scores)]
