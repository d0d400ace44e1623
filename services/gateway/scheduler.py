"""Starts suites' scheduled runs. Runs in every gateway replica; a claim per occurrence in
MongoDB (services/gateway/suite_store.py) makes each run start exactly once.

After downtime a suite catches up at most one missed run: the latest occurrence, its trigger
detail saying it is a catch-up and how many were skipped (shared/suites.py decides which).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from services.gateway.dependencies import Gateway
from services.gateway.runs import start_once
from shared.errors import BenchmarkError
from shared.events import utc_now

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, gateway: Gateway, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._gateway = gateway
        self._clock = clock

    async def tick(self) -> list[str]:
        """Start every run due now, of every tenant; return the benchmark ids this scheduler started."""
        now = self._clock()
        started = []
        for tenant in await self._gateway.suites.scheduled_tenants():
            started += await self._tick(self._gateway.for_tenant(tenant), now)
        return started

    async def _tick(self, gateway: Gateway, now: datetime) -> list[str]:
        started = []
        for scheduled in await gateway.suites.scheduled():
            schedule = scheduled.schedule
            due = schedule.due_run(now, since=scheduled.since, last_due=scheduled.last_due_at)
            if due is None:
                continue
            record = await gateway.suites.get(scheduled.name)  # the spec, only when a run is due
            if record is None:
                continue  # deleted since
            try:
                benchmark_id, started_now = await start_once(
                    gateway,
                    f"schedule:{record.suite.name}:{due.due_at.astimezone(UTC).isoformat()}",
                    record.suite.spec,
                    now=now,
                    trigger="schedule",
                    requested_by="scheduler",
                    trigger_detail=due.describe(schedule),
                )
            except BenchmarkError as exc:  # the occurrence was given back: the next tick tries again
                log.warning("scheduled run of suite %r not started: %s", record.suite.name, exc)
                continue
            # Recorded by whoever sees the occurrence due, not only by its starter: if the
            # starter's write failed, the next tick of any gateway repairs the record
            await gateway.suites.record_scheduled_run(record.suite.name, due.due_at, benchmark_id)
            if started_now:
                log.info(
                    "started %s: suite %r of tenant %r, %s",
                    benchmark_id,
                    record.suite.name,
                    gateway.tenant,
                    due.describe(schedule),
                )
                started.append(benchmark_id)
        return started

    async def run(self, interval_s: float) -> None:
        """Tick every `interval_s` seconds until cancelled; an unreachable store is logged and retried."""
        while True:
            try:
                await self.tick()
            except BenchmarkError as exc:
                log.warning("scheduler tick failed: %s", exc)
            except Exception:  # a bug must not stop every later scheduled run
                log.exception("scheduler tick failed")
            await asyncio.sleep(interval_s)
