"""Stored suites and run claims, in the same MongoDB database as the benchmarks.

A claim is how several gateways agree that a run happens once: before starting a scheduled run
(or a deployment's run) a gateway inserts a document whose `_id` names the occurrence (suite +
due time; model + version). `_id` is unique on MongoDB and FerretDB alike, so exactly one insert
succeeds however many gateways race; FerretDB's findAndModify and `$inc` are not atomic, so a
lease held by updating one document would not be safe there.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.errors import StoreUnavailable
from shared.mongo import translated_errors
from shared.suites import Schedule, Suite

__all__ = ["ScheduledSuite", "SuiteRecord", "SuiteStore"]


@dataclass(frozen=True, slots=True)
class SuiteRecord:
    suite: Suite
    created_at: datetime
    updated_at: datetime
    last_due_at: datetime | None
    """The occurrence the latest scheduled run stood for."""
    last_benchmark_id: str | None

    def to_json(self, now: datetime) -> dict[str, Any]:
        body = self.suite.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["createdAt"] = self.created_at.isoformat()
        body["updatedAt"] = self.updated_at.isoformat()
        if self.suite.schedule is not None:
            body["nextRunAt"] = self.suite.schedule.next_run(now).isoformat()
        if self.last_benchmark_id is not None:
            body["lastScheduledRun"] = {
                "dueAt": self.last_due_at.isoformat() if self.last_due_at else None,
                "benchmarkId": self.last_benchmark_id,
            }
        return body


@dataclass(frozen=True, slots=True)
class ScheduledSuite:
    """What the scheduler reads every tick: a suite's schedule and where it stands, not its spec."""

    name: str
    schedule: Schedule
    since: datetime
    """When the current schedule was set: occurrences before it never run."""
    last_due_at: datetime | None


class SuiteStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], *, tenant: str) -> None:
        self._suites = database["suites"]
        self._claims = database["claims"]
        self._tenant = tenant

    def _key(self, *parts: str) -> str:
        return json.dumps([self._tenant, *parts])

    async def create(self, suite: Suite, now: datetime) -> bool:
        """Store a new suite; False if one of that name exists."""
        with translated_errors():
            try:
                await self._suites.insert_one(self._document(suite, now, created_at=now))
            except DuplicateKeyError:
                return False
        return True

    async def put(self, suite: Suite, now: datetime) -> bool:
        """Create or replace a suite; True if it was created. Changing the schedule restarts it
        from now (no run for occurrences before the change)."""
        with translated_errors():
            existing = await self._suites.find_one({"_id": self._key(suite.name)})
            if existing is None and await self.create(suite, now):
                return True
            existing = existing or await self._suites.find_one({"_id": self._key(suite.name)})
            if existing is None:  # another request created it and a third deleted it, all since our read
                raise StoreUnavailable(f"suite {suite.name!r} was created and deleted meanwhile; try again")
            document = self._document(suite, now, created_at=existing["createdAt"])
            # both are the same model's dump: comparing them needs no validation (and a stored
            # suite that no longer validates can still be replaced)
            if existing["definition"].get("schedule") == document["definition"].get("schedule"):
                for kept in ("scheduleSince", "lastDueAt", "lastBenchmarkId"):
                    document[kept] = existing.get(kept)
            await self._suites.replace_one({"_id": document["_id"]}, document)
        return False

    async def get(self, name: str) -> SuiteRecord | None:
        with translated_errors():
            document = await self._suites.find_one({"_id": self._key(name)})
        return _record(document) if document else None

    async def list(self) -> list[SuiteRecord]:  # below this, `list` in the class is this method: builtins.list
        with translated_errors():
            cursor = self._suites.find({"tenant": self._tenant}).sort("name", ASCENDING)
            return [_record(document) async for document in cursor]

    async def scheduled(self) -> builtins.list[ScheduledSuite]:
        """The suites that have a schedule, without their specs (which may hold whole datasets)."""
        with translated_errors():
            cursor = self._suites.find(
                {"tenant": self._tenant, "scheduleSince": {"$ne": None}},
                {"_id": 0, "name": 1, "definition.schedule": 1, "scheduleSince": 1, "lastDueAt": 1},
            )
            return [
                ScheduledSuite(
                    name=document["name"],
                    schedule=Schedule.model_validate(document["definition"]["schedule"]),
                    since=document["scheduleSince"],
                    last_due_at=document.get("lastDueAt"),
                )
                async for document in cursor
            ]

    async def scheduled_tenants(self) -> builtins.list[str]:
        """Every tenant that has a scheduled suite (the scheduler serves them all)."""
        with translated_errors():  # not distinct(): FerretDB refuses its maxTimeMS (which timeoutMS adds)
            cursor = self._suites.find({"scheduleSince": {"$ne": None}}, {"_id": 0, "tenant": 1})
            return sorted({document["tenant"] async for document in cursor})

    async def delete(self, name: str) -> bool:
        with translated_errors():
            return (await self._suites.delete_one({"_id": self._key(name)})).deleted_count == 1

    async def record_scheduled_run(self, name: str, due_at: datetime, benchmark_id: str) -> None:
        with translated_errors():
            # never backwards: a gateway that read the schedule before a later run was recorded
            # must not undo it
            await self._suites.update_one(
                {"_id": self._key(name), "$or": [{"lastDueAt": None}, {"lastDueAt": {"$lt": due_at}}]},
                {"$set": {"lastDueAt": due_at, "lastBenchmarkId": benchmark_id}},
            )

    async def claim(self, occurrence: str, benchmark_id: str, now: datetime) -> str | None:
        """Claim `occurrence` for `benchmark_id`: None if this call got it, else the benchmark id
        of whoever claimed it first."""
        claim = {"_id": self._key(occurrence), "tenant": self._tenant, "benchmarkId": benchmark_id, "claimedAt": now}
        with translated_errors():
            for _ in range(3):  # the holder may give the claim back between our insert and our read
                try:
                    await self._claims.insert_one(claim)
                    return None
                except DuplicateKeyError:
                    holder = await self._claims.find_one({"_id": claim["_id"]})
                if holder is not None:
                    return holder["benchmarkId"]
        raise StoreUnavailable(f"the claim on {occurrence} keeps changing hands; try again")

    async def release(self, occurrence: str, benchmark_id: str) -> None:
        """Give a claim back (its run could not be started), so a retry can claim it again."""
        with translated_errors():
            await self._claims.delete_one({"_id": self._key(occurrence), "benchmarkId": benchmark_id})

    def _document(self, suite: Suite, now: datetime, *, created_at: datetime) -> dict[str, Any]:
        return {
            "_id": self._key(suite.name),
            "tenant": self._tenant,
            "name": suite.name,
            "definition": suite.model_dump(mode="json", by_alias=True),
            "scheduleSince": now if suite.schedule else None,
            "lastDueAt": None,
            "lastBenchmarkId": None,
            "createdAt": created_at,
            "updatedAt": now,
        }


def _record(document: dict[str, Any]) -> SuiteRecord:
    return SuiteRecord(
        suite=Suite.model_validate(document["definition"]),
        created_at=document["createdAt"],
        updated_at=document["updatedAt"],
        last_due_at=document.get("lastDueAt"),
        last_benchmark_id=document.get("lastBenchmarkId"),
    )
