"""Composition root of the gateway: FastAPI with FastStream's Kafka integration."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway.api_keys import KeyStore
from services.gateway.audit import AuditLog
from services.gateway.body_limit import BodyLimit
from services.gateway.dependencies import Gateway, authenticate
from services.gateway.deployments import handle_deployment
from services.gateway.routes import audit, benchmarks, credentials, deployments, health, keys, suites
from services.gateway.scheduler import Scheduler
from services.gateway.suite_store import SuiteStore
from shared import topics
from shared.errors import InfrastructureError, InvalidInput, OverQuota
from shared.events import DeploymentEvent
from shared.messaging import DeliveryTelemetry, Outgoing, Topics, create_broker, subscribe
from shared.results.mongo_store import MongoStore
from shared.service import ensure_topics
from shared.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # A plain FastStream broker, started in the lifespan: it publishes requests and consumes
    # deployment events with the same delivery guarantees as the other services (shared/messaging.py)
    broker = create_broker(settings, client_id="benchmarks-gateway")
    names = Topics(settings)
    delivery = DeliveryTelemetry()  # what the deployments consumer dead-letters or skips

    async def on_deployment(event: DeploymentEvent) -> list[Outgoing]:
        # the verdict follows on benchmarks.completed, from the aggregator; whoever may publish on
        # the deployments topic speaks for the event's tenant (Kafka ACLs are that authority)
        await handle_deployment(app.state.gateway.for_tenant(event.tenant), event)
        return []

    subscribe(
        broker,
        names,
        settings,
        topic=topics.DEPLOYMENTS,
        group="benchmarks-gateway",
        event_type=DeploymentEvent,
        handler=on_deployment,
        service="gateway",
        telemetry=delivery,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings)
        store = await MongoStore.connect(settings)  # the client belongs to this event loop
        gateway = Gateway(
            settings=settings,
            store=store,
            suites=SuiteStore(store.database, tenant=store.tenant),
            broker=broker,
            topics=names,
            keys=KeyStore(store.database),
            audit=AuditLog(store.database),
        )
        await gateway.keys.ensure_indexes()
        await gateway.audit.ensure_indexes()
        app.state.gateway = gateway
        await broker.start()  # after the gateway exists: the first deployment event may arrive at once
        app.state.health = health.monitor(gateway)  # /readyz answers from its background checks
        app.state.health.start()
        scheduling = (
            asyncio.create_task(Scheduler(gateway).run(settings.scheduler_interval_s), name="scheduler")
            if settings.scheduler_enabled
            else None
        )
        try:
            yield
        finally:
            await app.state.health.stop()
            if scheduling is not None:
                scheduling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduling
            await broker.stop()
            await store.close()

    app = FastAPI(
        title="continuous-benchmarks gateway",
        summary="Submit benchmarks of AI models and read their comparative reports.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(benchmarks.router)
    app.include_router(suites.router)
    app.include_router(deployments.router)
    app.include_router(keys.router)
    app.include_router(audit.router)
    app.include_router(credentials.router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(delivery.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)  # counted as it streams in

    @app.middleware("http")
    async def key_before_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # a /v1 request's key is authenticated before its body is read or parsed: without a valid
        # key the answer is 401 whatever the body; the route's dependency then checks the role
        if settings.auth_enabled and request.url.path.startswith("/v1/"):
            try:
                request.state.api_key = await authenticate(app.state.gateway, request.headers.get("authorization"))
            except HTTPException as exc:
                return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
            except InfrastructureError as exc:  # handlers do not see a middleware's exceptions
                return await unavailable(request, exc)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the whole input back (inline datasets included): name the
        # field and the reason only
        detail = [{"loc": list(e["loc"]), "msg": e["msg"].removeprefix("Value error, "), "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": detail, "message": _one_line(detail)}, status_code=422)

    @app.exception_handler(InvalidInput)
    async def refused(request: Request, exc: InvalidInput) -> JSONResponse:
        # the same shape as a validation error; a RequestProblem names its field
        detail = [{"loc": list(getattr(exc, "loc", ())), "msg": str(exc), "type": "refused"}]
        return JSONResponse({"detail": detail, "message": _one_line(detail)}, status_code=422)

    @app.exception_handler(OverQuota)
    async def over_quota(request: Request, exc: OverQuota) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
        return JSONResponse({"detail": str(exc), "quota": exc.quota}, status_code=429, headers=headers)

    @app.exception_handler(InfrastructureError)
    async def unavailable(request: Request, exc: InfrastructureError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"a backing service is unavailable, try again: {exc}"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    return app


def _one_line(detail: list[dict]) -> str:
    def where(loc: list) -> str:
        text = ""
        for part in loc[1:] if loc and loc[0] == "body" else loc:
            text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
        return text

    return "; ".join(f"{where(d['loc'])}: {d['msg']}" if where(d["loc"]) else d["msg"] for d in detail)
