"""/v1/suites: stored benchmark templates (with optional schedules), their runs and baselines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from services.gateway.dependencies import AUTH_RESPONSES, Administering, Gateway, IdempotencyKey, Reading, Submitting
from services.gateway.routes.credentials import credential_store
from services.gateway.runs import spec_for_run, start_benchmark
from services.gateway.schemas import ApiModel, BenchmarkAccepted
from services.gateway.validation import RequestProblem, check_model, check_submission, evaluations_of
from shared.events import ClientTrigger, utc_now
from shared.results.baselines import pin_baseline
from shared.spec import ModelConfig
from shared.suites import Suite

router = APIRouter(prefix="/v1/suites", tags=["suites"], responses=AUTH_RESPONSES)

REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "A field is missing, of the wrong type, or refused; `detail` says which and why"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No suite of this name"}}


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**REFUSED, 409: {"description": "The suite exists (PUT replaces)"}}
)
async def create_suite(suite: Suite, gateway: Administering) -> dict[str, Any]:
    """Store a suite: a benchmark spec, its tolerances, and optionally a cron schedule."""
    await check_submission(
        suite.spec, gateway.settings, tenant=gateway.tenant, credentials=credential_store(gateway), loc=("body", "spec")
    )
    now = utc_now()
    if not await gateway.suites.create(suite, now):
        raise HTTPException(status.HTTP_409_CONFLICT, f"suite {suite.name!r} exists; PUT /v1/suites/{suite.name} replaces it")
    await gateway.record("suite.create", suite.name, schedule=_schedule_of(suite))
    return await _suite_body(gateway, suite.name)


@router.get("")
async def list_suites(gateway: Reading) -> dict[str, Any]:
    now = utc_now()
    return {"items": [record.to_json(now) for record in await gateway.suites.list()]}


@router.get("/{name}", responses=NOT_FOUND)
async def get_suite(name: str, gateway: Reading) -> dict[str, Any]:
    return await _suite_body(gateway, name)


@router.put("/{name}", responses={**REFUSED, 201: {"description": "Created"}})
async def put_suite(
    name: str, body: Annotated[dict[str, Any], Body()], gateway: Administering, response: Response
) -> dict[str, Any]:
    """Create or replace a suite (the name comes from the path). Changing the schedule starts it
    afresh: occurrences before the change never run."""
    if body.get("name", name) != name:
        raise RequestProblem(("body", "name"), f"the body names suite {body['name']!r} but the path names {name!r}")
    suite = _parse_suite({**body, "name": name})
    await check_submission(
        suite.spec, gateway.settings, tenant=gateway.tenant, credentials=credential_store(gateway), loc=("body", "spec")
    )
    created = await gateway.suites.put(suite, utc_now())
    if created:
        response.status_code = status.HTTP_201_CREATED
    await gateway.record("suite.create" if created else "suite.replace", name, schedule=_schedule_of(suite))
    return await _suite_body(gateway, name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_suite(name: str, gateway: Administering) -> None:
    """Delete the suite and its schedule; its benchmarks and baselines stay."""
    if not await gateway.suites.delete(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no suite {name!r}")
    await gateway.record("suite.delete", name)


class SuiteRunRequest(ApiModel):
    models: list[str] | None = None
    """Run only these of the suite's models (after `modelConfigs`); all of them if left out."""
    model_configs: list[ModelConfig] = Field(default_factory=list)
    """Models to run instead of the suite's model of the same name, or in addition."""
    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    """Base URL for the one model run (e.g. a candidate deployment under test)."""
    trigger: ClientTrigger = "api"
    reason: str | None = Field(default=None, max_length=500)
    """Why, in words (e.g. the commit under test); recorded as the run's trigger detail."""


@router.post("/{name}/runs", status_code=status.HTTP_202_ACCEPTED, responses={**REFUSED, **NOT_FOUND})
async def run_suite(
    name: str, request: SuiteRunRequest, gateway: Submitting, idempotency_key: IdempotencyKey = None
) -> BenchmarkAccepted:
    """Start a run of the suite now (what `benchmarks submit --suite` does, e.g. from CI).
    `requestedBy` is the API key's name."""
    record = await gateway.suites.get(name)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no suite {name!r}")
    spec = spec_for_run(record.suite, models=request.models, model_configs=request.model_configs, endpoint=request.endpoint)
    credentials = credential_store(gateway)
    evaluations = None  # the suite's size was checked when it was stored; the run counts toward quotas once planned
    if len(spec.models) > len(record.suite.spec.models):  # models added: the size limit may now be passed
        datasets = await check_submission(spec, gateway.settings, tenant=gateway.tenant, credentials=credentials)
        evaluations = evaluations_of(spec, datasets)
    else:  # models given or an endpoint: their keys and URLs go through the same policies
        for index, model in enumerate(spec.models):
            await check_model(
                model, gateway.settings, tenant=gateway.tenant, credentials=credentials, loc=("body", "models", index)
            )
    started = await start_benchmark(
        gateway,
        spec,
        trigger=request.trigger,
        requested_by=gateway.actor,
        trigger_detail=request.reason or f"run of suite {name!r} requested over the API",
        idempotency_key=idempotency_key,
        evaluations=evaluations,
    )
    return BenchmarkAccepted.of(started)


class BaselineRequest(ApiModel):
    benchmark_id: str = Field(min_length=1)
    models: list[str] | None = None
    """Pin only for these models; all the benchmark's models otherwise."""


class Baseline(ApiModel):
    suite: str
    models: dict[str, str]
    """Model -> the benchmark id pinned as its baseline."""


@router.put("/{suite}/baseline", responses={422: {"description": "Unknown or unfinished benchmark, or a model it did not run"}})
async def set_baseline(suite: str, body: BaselineRequest, gateway: Administering) -> Baseline:
    """Pin a completed benchmark of this suite (and tenant) as the suite's baseline, for all its
    models or those named."""
    pinned = await pin_baseline(gateway.store, suite, body.benchmark_id, body.models)
    await gateway.record(
        "baseline.pin",
        suite,
        benchmarkId=body.benchmark_id,
        models=sorted(m for m, b in pinned.items() if b == body.benchmark_id),
    )
    return Baseline(suite=suite, models=pinned)


@router.get("/{suite}/baseline", responses={404: {"description": "The suite has no baseline"}})
async def get_baseline(suite: str, gateway: Reading) -> Baseline:
    pinned = await gateway.store.get_baseline(suite)
    if not pinned:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"suite {suite!r} has no baseline")
    return Baseline(suite=suite, models=pinned)


def _parse_suite(body: dict[str, Any]) -> Suite:
    try:
        return Suite.model_validate(body)
    except ValidationError as exc:  # reported like FastAPI's own body errors (field path + reason)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None


async def _suite_body(gateway: Gateway, name: str) -> dict[str, Any]:
    record = await gateway.suites.get(name)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no suite {name!r}")
    return record.to_json(utc_now())


def _schedule_of(suite: Suite) -> str | None:
    return f"{suite.schedule.cron} ({suite.schedule.timezone})" if suite.schedule else None
