"""Deployment events (Kafka `deployments` topic or POST /v1/deployments) -> one compared run each."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.dependencies import Gateway
from services.gateway.runs import deployment_spec, start_once
from services.gateway.validation import RequestProblem, check_model
from shared.credentials import CredentialStore
from shared.events import DeploymentEvent

__all__ = ["DeploymentRun", "handle_deployment"]


@dataclass(frozen=True, slots=True)
class DeploymentRun:
    benchmark_id: str
    duplicate: bool
    """True when this model + version had been seen before: its first run is the answer."""


async def handle_deployment(
    gateway: Gateway, event: DeploymentEvent, *, credentials: CredentialStore | None = None
) -> DeploymentRun:
    """Start the suite's run for the deployed model, once per model + version.

    Raises RequestProblem (not retryable: the DLQ for Kafka, 422 over HTTP) for an unknown suite
    or a model the suite cannot run, and BrokerUnavailable / StoreUnavailable when the run could
    not be recorded or queued (the claim is then given back, so a redelivery or a retried webhook
    starts it). `credentials`: given for an event posted over HTTP, whose model is then checked
    like a submitted spec's (services/gateway/validation.check_model); an event from Kafka keeps
    `apiKeyEnv` under the runner's BENCH_MODEL_KEYS."""
    record = await gateway.suites.get(event.suite)
    if record is None:
        raise RequestProblem(("suite",), f"no suite named {event.suite!r} (create it with PUT /v1/suites/{event.suite})")
    spec = deployment_spec(record.suite, event)  # refuse a bad event before claiming its version
    if credentials is not None:  # posted over HTTP: its model is a stranger's (a credential of its tenant, no apiKeyEnv)
        await check_model(
            spec.models[0], gateway.settings, tenant=gateway.tenant, credentials=credentials, loc=("body", "modelConfig")
        )
    where = f" at {event.endpoint}" if event.endpoint else ""
    said = f", deployed by {event.deployed_by} (as the event says)" if event.deployed_by and gateway.caller else ""
    benchmark_id, started = await start_once(
        gateway,
        f"deployment:{event.model}:{event.version}",
        spec,
        trigger="deployment",
        # over HTTP the key says who asks; on Kafka, topic access is the authority and the event says who
        requested_by=gateway.actor if gateway.caller else event.deployed_by or "deployment system",
        trigger_detail=(
            f"deployment of {event.model} version {event.version}{where}{said},"
            f" compared with the baseline of suite {event.suite!r}"
        ),
        deployment=event,
    )
    if started:
        await gateway.record("deployment", f"{event.model}@{event.version}", suite=event.suite, benchmarkId=benchmark_id)
    return DeploymentRun(benchmark_id, duplicate=not started)
