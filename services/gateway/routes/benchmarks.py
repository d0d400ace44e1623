"""/v1/benchmarks: submit a benchmark, read its report, list benchmarks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from services.gateway.dependencies import AUTH_RESPONSES, IdempotencyKey, Reading, Submitting
from services.gateway.routes.credentials import credential_store
from services.gateway.runs import start_benchmark
from services.gateway.schemas import BenchmarkAccepted, BenchmarkPage, BenchmarkSummary, BenchmarkView, Progress
from services.gateway.validation import check_submission, evaluations_of
from shared.events import ClientTrigger, Status, Trigger
from shared.results.baselines import compare_benchmark as compare_with
from shared.results.completion import verdict_of
from shared.results.models import Comparison
from shared.results.store import BenchmarkFilter
from shared.spec import BenchmarkSpec

router = APIRouter(prefix="/v1/benchmarks", tags=["benchmarks"], responses=AUTH_RESPONSES)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        413: {"description": "The request body is larger than the server accepts"},
        422: {"description": "A field is missing, of the wrong type, or refused; `detail` says which and why"},
        429: {"description": "Over one of the tenant's quotas (named in `quota`); retry after `Retry-After` seconds if given"},
        503: {
            "description": "MongoDB is away: nothing was stored; retry after `Retry-After` seconds with the same Idempotency-Key"
        },
    },
)
async def submit_benchmark(
    spec: BenchmarkSpec,
    gateway: Submitting,
    idempotency_key: IdempotencyKey = None,
    trigger: Annotated[ClientTrigger, Query(description="`ci` for runs started by a CI pipeline")] = "api",
    reason: Annotated[
        str | None,
        Query(max_length=500, description="Why, in the client's words (e.g. the commit under test); recorded as `triggerDetail`"),
    ] = None,
) -> BenchmarkAccepted:
    """Accept a benchmark spec (the same shape as a spec file) and start it. Accepted means
    stored: it runs even if Kafka is away now (`queued: false`; it is published from the outbox).
    `requestedBy` is the API key's name."""
    datasets = await check_submission(spec, gateway.settings, tenant=gateway.tenant, credentials=credential_store(gateway))
    started = await start_benchmark(
        gateway,
        spec,
        trigger=trigger,
        requested_by=gateway.actor,
        trigger_detail=reason,
        idempotency_key=idempotency_key,
        evaluations=evaluations_of(spec, datasets),
    )
    return BenchmarkAccepted.of(started)


@router.get("/{benchmark_id}", response_model=BenchmarkView, responses={404: {"description": "No benchmark with this id"}})
async def get_benchmark(benchmark_id: str, gateway: Reading) -> BenchmarkView:
    """The report once completed; before that, the status and progress."""
    record = await gateway.store.get_benchmark(benchmark_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no benchmark {benchmark_id!r}")
    progress = Progress(
        scored=await gateway.store.scored_so_far(record),
        expected=record.plan.expected_samples if record.plan else None,
    )
    return BenchmarkView.of(record, verdict=verdict_of(record), progress=progress)


@router.get(
    "/{benchmark_id}/compare",
    response_model=Comparison,
    responses={404: {"description": "No benchmark with this id"}, 422: {"description": "Not comparable, and why"}},
)
async def compare_benchmark(
    benchmark_id: str,
    gateway: Reading,
    against: Annotated[str, Query(description="`baseline` (the suite's) or another benchmark id")] = "baseline",
    tolerance: Annotated[float | None, Query(ge=0, le=1e9, description="Overrides the spec's per-metric tolerances")] = None,
) -> Comparison:
    """Paired comparison per model x task x metric: delta, 95% CI, adjusted p-value, verdict."""
    if await gateway.store.get_benchmark(benchmark_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no benchmark {benchmark_id!r}")
    return await compare_with(gateway.store, benchmark_id, against, tolerance=tolerance, seed=gateway.settings.bootstrap_seed)


@router.get("")
async def list_benchmarks(
    gateway: Reading,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    suite: Annotated[str | None, Query(description="Only this suite's runs")] = None,
    model: Annotated[str | None, Query(description="Only runs that evaluated a model of this name")] = None,
    trigger: Annotated[Trigger | None, Query(description="Only runs started this way")] = None,
    status_: Annotated[Status | None, Query(alias="status", description="Only runs in this state")] = None,
) -> BenchmarkPage:
    """Benchmarks, newest first, optionally filtered."""
    where = BenchmarkFilter(suite=suite, model=model, trigger=trigger, status=status_)
    records = await gateway.store.list_benchmarks(limit=limit, offset=offset, where=where)
    return BenchmarkPage(items=[BenchmarkSummary.model_validate(r.summary()) for r in records], limit=limit, offset=offset)
