"""Composition root of the aggregator: plans and scores in, reports in MongoDB, completions out."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from services.aggregator.handlers import AggregatorHandlers
from services.aggregator.mongo_store import MongoStore
from services.aggregator.store import BenchmarkFilter
from services.aggregator.telemetry import AggregatorTelemetry
from shared import topics
from shared.events import BenchmarkPlanned, SampleScores
from shared.messaging import Topics, create_broker, subscribe
from shared.service import worker_app
from shared.settings import Settings

__all__ = ["create_app"]

REBUILD_FROM = 1000
"""Newest benchmarks read at start-up to rebuild the gauges (each suite's latest among them)."""


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    broker = create_broker(settings, client_id="benchmarks-aggregator")
    names = Topics(settings)
    telemetry = AggregatorTelemetry()
    handlers = AggregatorHandlers(settings, telemetry=telemetry)
    opened: list[MongoStore] = []

    async def open_store() -> None:
        # the client belongs to the serving event loop: open it at start-up, not at import
        store = await MongoStore.connect(settings)
        opened.append(store)
        handlers.attach(store)
        # gauges show each suite's latest run: rebuilt from the store, so every replica agrees
        telemetry.rebuild(await store.list_benchmarks(limit=REBUILD_FROM, where=BenchmarkFilter(status="completed")))

    async def close_store() -> None:
        for store in opened:
            await store.close()

    async def mongo_ready() -> None:
        if not opened:
            raise RuntimeError("not connected yet")
        await opened[0].ping()

    subscribe(
        broker, names, settings,
        topic=topics.BENCHMARKS_PLANNED, group="benchmarks-aggregator",
        event_type=BenchmarkPlanned, handler=handlers.on_benchmark_planned, service="aggregator",
    )
    subscribe(
        broker, names, settings,
        topic=topics.BENCHMARKS_SCORES, group="benchmarks-aggregator",
        event_type=SampleScores, handler=handlers.on_sample_scores, service="aggregator",
    )
    return worker_app(
        broker, settings, readiness=[("mongodb", mongo_ready)], registry=telemetry.registry,
        on_startup=[open_store], after_shutdown=[close_store],
    )
