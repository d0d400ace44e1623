"""Suites: stored benchmark templates, optionally re-run on a cron schedule.

    name: weekly-summarization
    spec: {...}                                   # a benchmark spec (tolerances included)
    schedule: {cron: "0 3 * * 1", timezone: Europe/Berlin}

When a schedule is due is pure arithmetic on the clock, kept here so it can be tested with any
clock: `Schedule.due_run(now, since=..., last_due=...)`. The scheduler (services/gateway/scheduler.py)
does the I/O: it claims each due run in MongoDB so several gateways fire it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from shared.spec import BenchmarkSpec, SpecModel, parse_document, read_document

__all__ = ["Schedule", "Suite", "DueRun", "SUITE_NAME_PATTERN", "load_suite"]

SUITE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
"""Suite names appear in URLs, Prometheus labels and Kafka keys: keep them plain."""

ON_TIME = timedelta(minutes=10)
"""A run found due later than this after its time is reported as a catch-up (the scheduler was down)."""


@dataclass(frozen=True, slots=True)
class DueRun:
    due_at: datetime
    """The occurrence this run stands for (in the schedule's time zone); also its claim key."""
    missed: int
    """Earlier occurrences since the last run that are skipped (at most one run catches up)."""
    late_by: timedelta

    @property
    def catch_up(self) -> bool:
        return self.missed > 0 or self.late_by > ON_TIME

    def describe(self, schedule: Schedule) -> str:
        when = f"{schedule.cron} ({schedule.timezone}), due {self.due_at.isoformat()}"
        if not self.catch_up:
            return f"scheduled: {when}"
        skipped = f"; {self.missed} earlier missed run(s) skipped" if self.missed else ""
        return f"catch-up after downtime: {when}, started {_duration(self.late_by)} late{skipped}"


class Schedule(SpecModel):
    cron: str = Field(min_length=1, max_length=100)
    """Five-field cron expression (minute hour day-of-month month day-of-week) or @daily, @weekly, ..."""
    timezone: str = "UTC"
    """IANA time zone the cron expression is read in (e.g. Europe/Berlin): 03:00 stays 03:00 across DST."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        cron = " ".join(cron.split())
        if len(cron.split()) not in (1, 5) or not croniter.is_valid(cron):
            raise ValueError(
                f"{cron!r} is not a cron expression; write five fields 'minute hour day month weekday'"
                " (e.g. '0 3 * * 1' for Mondays at 03:00) or @hourly, @daily, @weekly, @monthly"
            )
        return cron

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            near = sorted(name for name in available_timezones() if name.lower().endswith(timezone.lower().split("/")[-1]))
            hint = f" (did you mean {', '.join(near[:3])}?)" if near else " (use an IANA name such as Europe/Berlin or UTC)"
            raise ValueError(f"unknown time zone {timezone!r}{hint}") from None
        return timezone

    def due_run(self, now: datetime, *, since: datetime, last_due: datetime | None) -> DueRun | None:
        """The run to start at `now`, if any: the latest occurrence at or before `now` that is
        after both `since` (when the schedule was set: no run for occurrences before it) and the
        last run's occurrence. Older missed occurrences are counted, not run."""
        zone = ZoneInfo(self.timezone)
        local_now = now.astimezone(zone)
        latest = croniter(self.cron, local_now + timedelta(microseconds=1)).get_prev(datetime)
        floor = max(since, last_due) if last_due is not None else since
        if latest <= floor:
            return None
        missed = 0
        earlier = croniter(self.cron, latest)
        while missed < 1000 and earlier.get_prev(datetime) > floor:
            missed += 1
        return DueRun(due_at=latest, missed=missed, late_by=now - latest)

    def next_run(self, now: datetime) -> datetime:
        return croniter(self.cron, now.astimezone(ZoneInfo(self.timezone))).get_next(datetime)


class Suite(SpecModel):
    name: str = Field(pattern=SUITE_NAME_PATTERN)
    spec: BenchmarkSpec
    """The benchmark each run starts; its `suite` is the suite's name, its tolerances decide drift."""
    schedule: Schedule | None = None
    description: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _spec_belongs_to_suite(cls, value: Any) -> Any:
        # a spec naming another suite would put this suite's runs under that suite's baseline
        if isinstance(value, dict) and isinstance(value.get("spec"), dict) and value.get("name"):
            named = value["spec"].get("suite")
            if named not in (None, value["name"]):
                raise ValueError(f"spec.suite is {named!r} but the suite is {value['name']!r}; leave spec.suite out")
            value = {**value, "spec": {**value["spec"], "suite": value["name"]}}
        return value


def load_suite(path: Path) -> Suite:
    """Read a YAML or JSON suite file; SpecError names the file, the field and the reason."""
    return parse_document(
        Suite,
        read_document(path, "suite"),
        source=str(path),
        shape="a suite is a mapping with 'name', 'spec' and optionally 'schedule'",
    )


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
