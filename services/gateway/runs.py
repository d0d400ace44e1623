"""Starting benchmarks from the gateway: from a submitted spec, a stored suite, a schedule or a
deployment. `spec_for_run` is pure (which models a suite run evaluates, and how); `start_benchmark`
records and publishes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.gateway.dependencies import Gateway
from services.gateway.quotas import check_quota
from services.gateway.validation import RequestProblem
from shared import topics
from shared.errors import BenchmarkError, BrokerUnavailable, InfrastructureError, MessageTooLarge
from shared.events import BenchmarkRequested, DeploymentEvent, DeploymentRef, Trigger, new_benchmark_id, utc_now
from shared.messaging import Outgoing, publish
from shared.spec import BenchmarkSpec, ModelConfig, describe_validation_error
from shared.suites import Suite

__all__ = [
    "spec_for_run",
    "deployment_spec",
    "start_benchmark",
    "start_once",
    "benchmark_id_for",
    "request_digest",
    "Started",
    "UNCACHED_TRIGGERS",
]

log = logging.getLogger(__name__)

UNCACHED_TRIGGERS: frozenset[Trigger] = frozenset({"schedule", "deployment", "ci"})
"""Runs that exist to detect change never reuse stored model responses, whatever the spec says."""


def spec_for_run(
    suite: Suite,
    *,
    models: Sequence[str] | None = None,
    model_configs: Sequence[ModelConfig] = (),
    endpoint: str | None = None,
    loc: tuple[str | int, ...] = ("body",),
) -> BenchmarkSpec:
    """The suite's spec with `model_configs` replacing (by name) or joining its models, then only
    the `models` named kept (all if None), then `endpoint` as the one kept model's base URL."""
    chosen = {model.name: model for model in suite.spec.models}
    for config in model_configs:
        chosen[config.name] = config
    if models:
        unknown = [name for name in models if name not in chosen]
        if unknown:
            raise RequestProblem(
                (*loc, "models"),
                f"suite {suite.name!r} has no model {', '.join(map(repr, unknown))} (it has {', '.join(chosen)});"
                " give its configuration too",
            )
        chosen = {name: chosen[name] for name in dict.fromkeys(models)}
    if endpoint is not None:
        if len(chosen) != 1:
            raise RequestProblem(
                (*loc, "endpoint"), f"an endpoint needs exactly one model to apply to, not {len(chosen)}; name it"
            )
        (only,) = chosen.values()
        chosen = {only.name: _validated(only, {"baseUrl": endpoint}, (*loc, "endpoint"))}
    return suite.spec.model_copy(update={"models": list(chosen.values())})


def deployment_spec(suite: Suite, event: DeploymentEvent) -> BenchmarkSpec:
    """The run judging a deployment: its model alone, under the deployed name, so the suite's
    baseline for that name is what it is compared with."""
    configs = []
    if event.model_settings is not None:
        configs.append(_validated(event.model_settings, {"name": event.model}, ("modelConfig",)))
    elif event.model not in {model.name for model in suite.spec.models}:
        raise RequestProblem(
            ("modelConfig",),
            f"suite {suite.name!r} has no model {event.model!r}; give the deployed model's 'modelConfig'",
        )
    return spec_for_run(suite, models=[event.model], model_configs=configs, endpoint=event.endpoint, loc=())


@dataclass(frozen=True, slots=True)
class Started:
    request: BenchmarkRequested
    """The request as recorded: for a replayed Idempotency-Key, the first submission's id."""
    created: bool
    """False when an earlier submission with the same Idempotency-Key recorded it already."""
    queued: bool
    """Kafka took it; else it waits in the outbox and the reconciler publishes it."""

    @property
    def benchmark_id(self) -> str:
        return self.request.benchmark_id


def benchmark_id_for(tenant: str, idempotency_key: str) -> str:
    """The benchmark id an Idempotency-Key stands for: the same key, the same benchmark, however
    often a client retries and whichever gateway replica answers."""
    return "bm_" + hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()[:12]


def request_digest(request: BenchmarkRequested) -> str:
    """What the submitter asked for (the spec and who-and-why), hashed: a replayed key must match."""
    asked = request.model_dump(mode="json", by_alias=True, include={"spec", "trigger", "requested_by", "trigger_detail"})
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


async def start_benchmark(
    gateway: Gateway,
    spec: BenchmarkSpec,
    *,
    trigger: Trigger,
    requested_by: str | None = None,
    trigger_detail: str | None = None,
    deployment: DeploymentEvent | None = None,
    benchmark_id: str | None = None,
    idempotency_key: str | None = None,
    evaluations: int | None = None,
) -> Started:
    """Record the benchmark as pending (with its request in the outbox) and publish the request.

    The store is the commit point: once the benchmark is recorded it runs, whether Kafka takes
    the request now or the reconciler publishes it from the outbox later, so Kafka being away
    never loses nor doubles it (`queued` says which). MongoDB being away raises StoreUnavailable
    (503): nothing was promised. With an `idempotency_key`, a replay returns the first run.

    A request made with an API key (`gateway.caller`) is held to its tenant's quotas first
    (OverQuota, 429); `evaluations` (model x sample, when known) counts toward them. The
    gateway's own runs (schedules, deployment events from Kafka) are counted, not refused."""
    if trigger in UNCACHED_TRIGGERS:
        spec = spec.model_copy(update={"models": [m.model_copy(update={"cache": False}) for m in spec.models]})
    if idempotency_key is not None:
        benchmark_id = benchmark_id_for(gateway.tenant, idempotency_key)
    request = BenchmarkRequested(
        tenant=gateway.tenant,
        benchmark_id=benchmark_id or new_benchmark_id(),
        spec=spec,
        trigger=trigger,
        requested_by=requested_by,
        trigger_detail=trigger_detail,
        deployment=DeploymentRef(model=deployment.model, version=deployment.version) if deployment else None,
    )
    size = len(request.to_wire())
    if size > gateway.settings.max_message_bytes:  # refused before anything is stored
        raise RequestProblem(
            ("body",),
            f"the benchmark request is {size:,} bytes as an event; a message holds at most"
            f" {gateway.settings.max_message_bytes:,}: give large datasets as a 'url'",
        )
    digest = request_digest(request)
    if gateway.caller is not None and (
        idempotency_key is None or await gateway.store.get_benchmark(request.benchmark_id) is None
    ):
        # a replay is never refused: its first submission is what counts
        await check_quota(
            gateway.store,
            gateway.settings.quota_for(gateway.tenant),
            evaluations=evaluations,
            now=request.requested_at,
            busy_retry_s=gateway.settings.retry_after_s,
        )
    if not await gateway.store.create_benchmark(request, digest=digest, evaluations=evaluations):
        record = await gateway.store.get_benchmark(request.benchmark_id)
        if idempotency_key is not None and record is not None and record.request_digest not in (None, digest):
            raise RequestProblem(
                ("header", "Idempotency-Key"),
                "this Idempotency-Key was used for a different request; use a new key for a new benchmark",
            )
        return Started(request=request, created=False, queued=True)  # the first submission publishes it
    try:
        async with asyncio.timeout(gateway.settings.publish_timeout_s):
            await publish(gateway.broker, gateway.topics, Outgoing(topics.BENCHMARKS_REQUESTED, request.benchmark_id, request))
    except MessageTooLarge as exc:
        await gateway.store.fail(request.benchmark_id, f"could not be queued: {exc}")
        raise RequestProblem(("body",), str(exc)) from None
    except (BrokerUnavailable, TimeoutError) as exc:
        log.warning(
            "benchmark %s stays in the outbox, Kafka did not take it: %s", request.benchmark_id, str(exc)[:300] or "timed out"
        )
        return Started(request=request, created=True, queued=False)
    with contextlib.suppress(InfrastructureError):  # unmarked, the reconciler publishes it once more: harmless
        await gateway.store.mark_queued(request.benchmark_id)
    return Started(request=request, created=True, queued=True)


async def start_once(
    gateway: Gateway, occurrence: str, spec: BenchmarkSpec, *, now: datetime | None = None, **request: Any
) -> tuple[str, bool]:
    """Start the run standing for `occurrence` (a schedule's due time, a model version) unless
    one was started for it already, by this gateway or another: (benchmark id, started now).

    The occurrence is claimed first (services/gateway/suite_store.py); if the run then cannot be
    recorded the claim is given back, so a retry can start it, and the error propagates. The id
    is the occurrence's own, so a record that was applied after all is found again, not doubled.
    `request` is start_benchmark's keywords."""
    benchmark_id = benchmark_id_for(gateway.tenant, f"occurrence\0{occurrence}")
    holder = await gateway.suites.claim(occurrence, benchmark_id, now or utc_now())
    if holder is not None:
        return holder, False
    try:
        await start_benchmark(gateway, spec, benchmark_id=benchmark_id, **request)
    except BenchmarkError:
        await gateway.suites.release(occurrence, benchmark_id)
        raise
    return benchmark_id, True


def _validated(model: ModelConfig, changes: dict[str, Any], loc: tuple[str | int, ...]) -> ModelConfig:
    """`model` with `changes` (wire names), checked again as a whole (e.g. a URL on a builtin model)."""
    try:
        return ModelConfig.model_validate({**model.model_dump(by_alias=True), **changes})
    except ValidationError as exc:
        raise RequestProblem(loc, describe_validation_error(exc)) from None
