"""Deployment events (Kafka `deployments` topic or POST /v1/deployments) -> one compared run each."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.dependencies import Gateway
from services.gateway.runs import deployment_spec, start_once
from services.gateway.validation import RequestProblem
from shared.events import DeploymentEvent

__all__ = ["DeploymentRun", "handle_deployment"]


@dataclass(frozen=True, slots=True)
class DeploymentRun:
    benchmark_id: str
    duplicate: bool
    """True when this model + version had been seen before: its first run is the answer."""


async def handle_deployment(gateway: Gateway, event: DeploymentEvent) -> DeploymentRun:
    """Start the suite's run for the deployed model, once per model + version.

    Raises RequestProblem (not retryable: the DLQ for Kafka, 422 over HTTP) for an unknown suite
    or a model the suite cannot run, and BrokerUnavailable / StoreUnavailable when the run could
    not be recorded or queued (the claim is then given back, so a redelivery or a retried webhook
    starts it)."""
    record = await gateway.suites.get(event.suite)
    if record is None:
        raise RequestProblem(("suite",), f"no suite named {event.suite!r} (create it with PUT /v1/suites/{event.suite})")
    spec = deployment_spec(record.suite, event)  # refuse a bad event before claiming its version
    where = f" at {event.endpoint}" if event.endpoint else ""
    benchmark_id, started = await start_once(
        gateway,
        f"deployment:{event.model}:{event.version}",
        spec,
        trigger="deployment",
        requested_by=event.deployed_by or "deployment system",
        trigger_detail=f"deployment of {event.model} version {event.version}{where}, compared with the baseline of suite {event.suite!r}",
        deployment=event,
    )
    return DeploymentRun(benchmark_id, duplicate=not started)
