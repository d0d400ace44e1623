"""The score stage: a shard's model outputs -> per-sample metric values.

A sample whose model call failed scores as an empty prediction (0 on every metric), so a model
that fails on hard samples cannot look better than one that answers them badly.
"""

from __future__ import annotations

from shared.events import ModelOutputs, SampleOutput, SampleScore, SampleScores
from shared.metrics.registry import get_metric

__all__ = ["score_outputs", "score_sample"]


def score_sample(output: SampleOutput, metric_names: list[str], *, stemming: bool = True) -> SampleScore:
    prediction = "" if output.error else output.prediction
    scores: dict[str, float] = {}
    details: dict[str, dict[str, float]] = {}
    for name in metric_names:
        result = get_metric(name, stemming=stemming).compute(prediction, output.references)
        scores[name] = result.value
        if result.details:
            details[name] = result.details
    return SampleScore(
        sample_id=output.sample_id,
        scores=scores,
        details=details,
        prediction=output.prediction,
        latency_ms=output.latency_ms,
        prompt_tokens=output.prompt_tokens,
        completion_tokens=output.completion_tokens,
        cost=output.cost,
        error=output.error,
    )


def score_outputs(outputs: ModelOutputs) -> SampleScores:
    return SampleScores(
        tenant=outputs.tenant,
        benchmark_id=outputs.benchmark_id,
        model=outputs.model,
        task=outputs.task,
        shard=outputs.shard,
        scores=[score_sample(output, outputs.metrics, stemming=outputs.stemming) for output in outputs.outputs],
    )
