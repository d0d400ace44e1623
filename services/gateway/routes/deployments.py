"""/v1/deployments: the `deployments` Kafka event over HTTP, for systems that only send webhooks."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.gateway.dependencies import AUTH_RESPONSES, Submitting
from services.gateway.deployments import handle_deployment
from services.gateway.routes.credentials import credential_store
from services.gateway.schemas import ApiModel
from services.gateway.validation import RequestProblem
from shared.events import DeploymentEvent

router = APIRouter(prefix="/v1/deployments", tags=["deployments"], responses=AUTH_RESPONSES)


class DeploymentAccepted(ApiModel):
    benchmark_id: str
    duplicate: bool
    """True when this model + version was seen before: no new run, the first one's id."""
    location: str


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "This model + version was seen before: the existing run", "model": DeploymentAccepted},
        422: {"description": "A field is missing or refused, the suite is unknown, or the model cannot be run"},
        429: {"description": "Over one of the tenant's quotas (named in `quota`); retry after `Retry-After` seconds"},
    },
)
async def deployment(event: DeploymentEvent, gateway: Submitting, response: Response) -> DeploymentAccepted:
    """Benchmark a deployed model version with its suite; the verdict against the suite's
    baseline is published on `benchmarks.completed` and readable at `location`. The tenant is
    the API key's (a `tenant` field, if sent, must be the same)."""
    if "tenant" in event.model_fields_set and event.tenant != gateway.tenant:
        raise RequestProblem(("body", "tenant"), "the tenant comes from the API key; leave 'tenant' out")
    run = await handle_deployment(
        gateway, event.model_copy(update={"tenant": gateway.tenant}), credentials=credential_store(gateway)
    )
    if run.duplicate:
        response.status_code = status.HTTP_200_OK
    return DeploymentAccepted(
        benchmark_id=run.benchmark_id, duplicate=run.duplicate, location=f"/v1/benchmarks/{run.benchmark_id}"
    )
