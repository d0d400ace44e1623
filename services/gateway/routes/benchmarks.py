"""/v1/benchmarks: submit a benchmark, read its report, list benchmarks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from services.aggregator.baselines import compare
from services.aggregator.store import BenchmarkRecord
from services.gateway.dependencies import GatewayDep
from services.gateway.schemas import BenchmarkAccepted, BenchmarkPage, BenchmarkSummary, Progress
from services.gateway.validation import check_datasets
from shared import topics
from shared.errors import BrokerUnavailable
from shared.events import BenchmarkRequested, new_benchmark_id
from shared.messaging import Outgoing, publish
from shared.spec import BenchmarkSpec

router = APIRouter(prefix="/v1/benchmarks", tags=["benchmarks"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        413: {"description": "The request body is larger than the server accepts"},
        422: {"description": "A field is missing, of the wrong type, or refused; `detail` says which and why"},
    },
)
async def submit_benchmark(spec: BenchmarkSpec, gateway: GatewayDep) -> BenchmarkAccepted:
    """Accept a benchmark spec (the same shape as a spec file) and start it."""
    await check_datasets(spec, gateway.settings)
    request = BenchmarkRequested(
        tenant=gateway.settings.tenant, benchmark_id=new_benchmark_id(), spec=spec, trigger="api"
    )
    await gateway.store.create_benchmark(request)
    try:
        await publish(gateway.broker, gateway.topics, Outgoing(topics.BENCHMARKS_REQUESTED, request.benchmark_id, request))
    except BrokerUnavailable as exc:
        await gateway.store.fail(request.benchmark_id, f"could not be queued: {exc}")
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Kafka did not accept the benchmark; try again") from exc
    return BenchmarkAccepted(
        benchmark_id=request.benchmark_id, status="pending", location=f"/v1/benchmarks/{request.benchmark_id}"
    )


@router.get("/{benchmark_id}", responses={404: {"description": "No benchmark with this id"}})
async def get_benchmark(benchmark_id: str, gateway: GatewayDep) -> dict[str, Any]:
    """The report once completed; before that, the status and progress."""
    record = await gateway.store.get_benchmark(benchmark_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no benchmark {benchmark_id!r}")
    progress = Progress(
        scored=await gateway.store.count_scores(benchmark_id),
        expected=record.plan.expected_samples if record.plan else None,
    )
    body = record.report if record.report is not None else _pending_report(record)
    return {**body, "trigger": record.trigger, "reason": record.reason, "progress": progress.model_dump()}


@router.get(
    "/{benchmark_id}/compare",
    responses={404: {"description": "No benchmark with this id"}, 422: {"description": "Not comparable, and why"}},
)
async def compare_benchmark(
    benchmark_id: str,
    gateway: GatewayDep,
    against: Annotated[str, Query(description="`baseline` (the suite's) or another benchmark id")] = "baseline",
    tolerance: Annotated[float | None, Query(ge=0, description="Overrides the spec's per-metric tolerances")] = None,
) -> dict[str, Any]:
    """Paired comparison per model x task x metric: delta, 95% CI, adjusted p-value, verdict."""
    if await gateway.store.get_benchmark(benchmark_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no benchmark {benchmark_id!r}")
    return await compare(gateway.store, benchmark_id, against, tolerance=tolerance, seed=gateway.settings.bootstrap_seed)


@router.get("")
async def list_benchmarks(
    gateway: GatewayDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> BenchmarkPage:
    """Benchmarks, newest first."""
    records = await gateway.store.list_benchmarks(limit=limit, offset=offset)
    return BenchmarkPage(items=[BenchmarkSummary.model_validate(r.summary()) for r in records], limit=limit, offset=offset)


def _pending_report(record: BenchmarkRecord) -> dict[str, Any]:
    return {
        "benchmarkId": record.benchmark_id,
        "name": record.name,
        "suite": record.suite,
        "status": record.status,
        "results": [],
    }
