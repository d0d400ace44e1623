"""Composition root of the aggregator: plans and scores in, reports in MongoDB, completions out;
dead letters fail their benchmarks; the reconciler repairs what stopped moving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from faststream.asgi import AsgiFastStream

from services.aggregator.handlers import AggregatorHandlers
from services.aggregator.reconciler import Reconciler
from services.aggregator.telemetry import AggregatorTelemetry
from shared import topics
from shared.errors import InfrastructureError
from shared.events import BenchmarkPlanned, DeadLetter, SampleScores
from shared.logs import OutageLog
from shared.messaging import DeliveryTelemetry, Outgoing, Topics, create_broker, publish, subscribe
from shared.results.mongo_store import MongoStore
from shared.results.store import BenchmarkFilter
from shared.service import worker_app
from shared.settings import Settings

__all__ = ["create_app", "reconcile_forever"]

log = logging.getLogger(__name__)

REBUILD_FROM = 1000
"""Newest benchmarks read at start-up to rebuild the gauges (each suite's latest among them)."""


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    broker = create_broker(settings, client_id="benchmarks-aggregator")
    names = Topics(settings)
    telemetry = AggregatorTelemetry()
    handlers = AggregatorHandlers(settings, telemetry=telemetry)
    delivery = DeliveryTelemetry(telemetry.registry)
    opened: list[MongoStore] = []
    background: list[asyncio.Task] = []

    async def open_store() -> None:
        # the client belongs to the serving event loop: open it at start-up, not at import
        store = await MongoStore.connect(settings)
        opened.append(store)
        handlers.attach(store)
        # gauges show each tenant's suites' latest runs: rebuilt from the store, so every replica agrees
        telemetry.rebuild(
            await store.list_benchmarks(limit=REBUILD_FROM, where=BenchmarkFilter(status="completed"), every_tenant=True)
        )

        async def publish_outgoing(outgoing: Outgoing) -> None:
            await publish(broker, names, outgoing)

        reconciler = Reconciler(
            store,
            publish=publish_outgoing,
            settings=settings,
            on_completed=telemetry.observe_completion,
            on_failed=telemetry.observe_failure,
        )
        background.append(asyncio.create_task(reconcile_forever(reconciler, store, settings), name="reconciler"))

    async def stop_reconciler() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close_store() -> None:
        for store in opened:
            await store.close()

    async def mongo_ready() -> None:
        if not opened:
            raise RuntimeError("not connected yet")
        await opened[0].ping()

    subscribe(
        broker,
        names,
        settings,
        topic=topics.BENCHMARKS_PLANNED,
        group="benchmarks-aggregator",
        event_type=BenchmarkPlanned,
        handler=handlers.on_benchmark_planned,
        service="aggregator",
        telemetry=delivery,
    )
    subscribe(
        broker,
        names,
        settings,
        topic=topics.BENCHMARKS_SCORES,
        group="benchmarks-aggregator",
        event_type=SampleScores,
        handler=handlers.on_sample_scores,
        service="aggregator",
        telemetry=delivery,
    )
    subscribe(
        broker,
        names,
        settings,
        topic=topics.BENCHMARKS_DLQ,
        group="benchmarks-aggregator",
        event_type=DeadLetter,
        handler=handlers.on_dead_letter,
        service="aggregator",
        telemetry=delivery,
        dead_letters=False,  # a letter about a letter would loop
    )
    return worker_app(
        broker,
        settings,
        readiness=[("mongodb", mongo_ready)],
        registry=telemetry.registry,
        on_startup=[open_store],
        after_shutdown=[stop_reconciler, close_store],
    )


async def reconcile_forever(reconciler: Reconciler, store: MongoStore, settings: Settings) -> None:
    """A reconciler round every BENCH_RECONCILE_INTERVAL_S, run by whichever replica claims it
    first: several replicas never repair the same benchmark twice in one round."""
    outage = OutageLog(log, what="the reconciler's store or broker", reminder_s=settings.log_reminder_s)
    interval = settings.reconcile_interval_s
    while True:
        await asyncio.sleep(interval - time.time() % interval)  # rounds start on the same boundaries everywhere
        try:
            if await store.claim_round(f"{interval:g}s:{int(time.time() // interval)}"):
                await reconciler.run_round()
        except InfrastructureError as exc:
            outage.failed(str(exc)[:300])
        except Exception:  # a bug: log it, keep repairing next round
            log.exception("reconciler round failed")
        else:
            outage.recovered()
