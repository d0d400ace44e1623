"""The distributed store: MongoDB (or FerretDB) through PyMongo's async client.

Same interface as the SQLite store. Works on MongoDB 6+ and FerretDB 1.24: single-document
writes and upserts only (no transactions, no change streams).

Documents are addressed by natural keys in `_id` (tenant + benchmarkId; tenant + benchmarkId +
model + task + sampleId), so a replayed write is refused or is a no-op, and every hot lookup is
by `_id` (FerretDB's SQLite backend uses no other index for queries).

Benchmarks not finished yet also have a small document in `in_flight` (the outbox and the
reconciler's bookkeeping), removed when they finish: the reconciler reads that collection only,
so its round costs the same however many finished benchmarks the store holds.

No counters in documents: FerretDB 1.24 applies `$inc` as read-modify-write, so concurrent
increments of one document get lost (measured: ten concurrent `$inc`s left 2). The aggregator
counts newly inserted scores itself instead (see services/aggregator/handlers.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.results import UpdateResult

from shared.events import BenchmarkPlanned, BenchmarkRequested, SampleScore, SampleScores, utc_now
from shared.mongo import translated_errors
from shared.results.report import ScoredSample
from shared.results.store import (
    FINISHED,
    BenchmarkFilter,
    BenchmarkRecord,
    InFlight,
    as_utc,
    cause_of,
    check_page,
    stored_reason,
)
from shared.settings import Settings

__all__ = ["MongoStore"]

T = TypeVar("T")
Document = dict[str, Any]
SERVER_SELECTION_TIMEOUT_MS = 5_000
DUPLICATE_KEY = 11000
ROUNDS_KEPT = timedelta(hours=1)
LONG_READ_S = 120.0
"""Reads of a whole benchmark's scores may take longer than one operation's BENCH_STORE_TIMEOUT_S."""


async def _upsert(operation: Callable[[], Awaitable[T]]) -> T:
    """Run an upsert; if a concurrent upsert created the document first (DuplicateKeyError on
    `_id`), run it again: it now updates the existing document."""
    try:
        return await operation()
    except DuplicateKeyError:
        return await operation()


class MongoStore:
    def __init__(self, client: AsyncMongoClient[Document], database: str, *, tenant: str) -> None:
        self._client = client
        self._db: AsyncDatabase[Document] = client[database]
        self._benchmarks = self._db["benchmarks"]
        self._scores = self._db["sample_scores"]
        self._in_flight = self._db["in_flight"]
        self._tenant = tenant

    @classmethod
    async def connect(cls, settings: Settings) -> MongoStore:
        """Open a client (in the running event loop) and make sure the indexes exist."""
        # timeoutMS bounds every operation: a paused database fails fast instead of hanging callers
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.mongo_url,
            tz_aware=True,
            serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            timeoutMS=int(settings.store_timeout_s * 1000),
        )
        store = cls(client, settings.mongo_database, tenant=settings.tenant)
        await store.ensure_indexes()
        return store

    async def ensure_indexes(self) -> None:
        with translated_errors():
            await self._benchmarks.create_index(
                [("tenant", ASCENDING), ("benchmarkId", ASCENDING)], unique=True, name="benchmark_id"
            )
            await self._benchmarks.create_index([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="newest")
            await self._scores.create_index(
                [(key, ASCENDING) for key in ("tenant", "benchmarkId", "model", "task", "sampleId")],
                unique=True,
                name="one_score_per_sample",
            )

    def for_tenant(self, tenant: str) -> MongoStore:
        """The same database, bound to another tenant (sharing this client: closing it closes ours)."""
        return MongoStore(self._client, self._db.name, tenant=tenant)

    @property
    def database(self) -> AsyncDatabase[Document]:
        """The database, for stores of other collections sharing this client (suites, claims)."""
        return self._db

    @property
    def tenant(self) -> str:
        return self._tenant

    async def ping(self) -> None:
        with translated_errors():
            await self._db.command("ping")

    def _key(self, benchmark_id: str) -> dict[str, str]:
        return {"_id": json.dumps([self._tenant, benchmark_id])}

    def _score_id(self, benchmark_id: str, model: str, task: str, sample_id: str) -> str:
        return json.dumps([self._tenant, benchmark_id, model, task, sample_id])

    def _new_benchmark(self, benchmark_id: str, created_at: datetime) -> dict[str, Any]:
        """Fields of a benchmark document that whoever writes first creates."""
        return {"tenant": self._tenant, "benchmarkId": benchmark_id, "createdAt": created_at}

    async def create_benchmark(
        self, request: BenchmarkRequested, *, digest: str | None = None, evaluations: int | None = None
    ) -> bool:
        """Also put the request in the outbox (`in_flight`, not queued) first, so a benchmark
        recorded here is always published, by the caller or later by the reconciler.
        `evaluations` (model x sample, when known before planning) counts toward the tenant's quota."""
        with translated_errors():
            await _upsert(
                lambda: self._in_flight.update_one(
                    self._key(request.benchmark_id),
                    {
                        "$setOnInsert": {
                            "tenant": self._tenant,
                            "benchmarkId": request.benchmark_id,
                            "createdAt": request.requested_at,
                            "request": request.to_wire().decode(),
                            "queued": False,
                            "redrives": 0,
                        }
                    },
                    upsert=True,
                )
            )
            result = await _upsert(
                lambda: self._benchmarks.update_one(
                    self._key(request.benchmark_id),
                    {
                        "$setOnInsert": {
                            **self._new_benchmark(request.benchmark_id, request.requested_at),
                            "name": request.spec.name,
                            "suite": request.spec.suite_name,
                            "status": "pending",
                            "trigger": request.trigger,
                            "cause": cause_of(request),
                            "updatedAt": request.requested_at,
                            "spec": request.spec.to_document(),
                            **({"requestDigest": digest} if digest else {}),
                            **({"evaluations": evaluations} if evaluations is not None else {}),
                        }
                    },
                    upsert=True,
                )
            )
        return result.upserted_id is not None

    async def count_in_flight(self) -> int:
        """The tenant's benchmarks not finished yet (from the small `in_flight` collection)."""
        with translated_errors():
            return await self._in_flight.count_documents({"tenant": self._tenant})

    async def evaluations_since(self, since: datetime) -> list[tuple[datetime, int]]:
        """(created at, model x sample evaluations) of the tenant's benchmarks created since, oldest first."""
        with translated_errors():
            cursor = self._benchmarks.find(
                {"tenant": self._tenant, "createdAt": {"$gte": since}}, {"_id": 0, "createdAt": 1, "evaluations": 1}
            ).sort("createdAt", ASCENDING)
            return [(as_utc(d["createdAt"]), int(d.get("evaluations") or 0)) async for d in cursor]

    async def mark_queued(self, benchmark_id: str) -> None:
        """Kafka took the request: it leaves the outbox."""
        with translated_errors():
            await self._in_flight.update_one(self._key(benchmark_id), {"$set": {"queued": True}})

    async def unfinished(self, *, limit: int) -> list[InFlight]:
        """Benchmarks of every tenant not finished yet (oldest first), from the small `in_flight` collection."""
        with translated_errors(), pymongo.timeout(LONG_READ_S):
            cursor = self._in_flight.find({}).sort("createdAt", ASCENDING).limit(limit)
            return [
                InFlight(
                    benchmark_id=d["benchmarkId"],
                    tenant=d["tenant"],
                    created_at=as_utc(d["createdAt"]),
                    request=d.get("request"),
                    queued=bool(d.get("queued", True)),
                    scored=d.get("scored"),
                    progress_at=as_utc(d["progressAt"]) if d.get("progressAt") else None,
                    redrives=int(d.get("redrives", 0)),
                )
                async for d in cursor
            ]

    async def note_progress(self, benchmark_id: str, *, scored: int, at: datetime, redrives: int | None = None) -> None:
        fields: dict[str, Any] = {"scored": scored, "progressAt": at}
        if redrives is not None:
            fields["redrives"] = redrives
        with translated_errors():
            await self._in_flight.update_one(self._key(benchmark_id), {"$set": fields})

    async def forget_in_flight(self, benchmark_id: str) -> None:
        with translated_errors():
            await self._in_flight.delete_one(self._key(benchmark_id))

    async def shard_counts(self, benchmark_id: str) -> dict[tuple[str, str, int], int]:
        """Stored scores per model x task x shard (scores stored before shards were recorded count as shard -1)."""
        counts: dict[tuple[str, str, int], int] = {}
        with translated_errors(), pymongo.timeout(LONG_READ_S):
            cursor = self._scores.find(
                {"tenant": self._tenant, "benchmarkId": benchmark_id}, {"_id": 0, "model": 1, "task": 1, "shard": 1}
            )
            async for d in cursor:
                key = (d["model"], d["task"], int(d.get("shard", -1)))
                counts[key] = counts.get(key, 0) + 1
        return counts

    async def claim_round(self, name: str) -> bool:
        """Take the reconciler's round `name` for this replica; False when another replica has it.
        A unique `_id` insert is atomic on MongoDB and FerretDB alike."""
        rounds = self._db["reconciler_rounds"]
        now = utc_now()
        with translated_errors():
            try:
                await rounds.insert_one({"_id": json.dumps([self._tenant, name]), "tenant": self._tenant, "at": now})
            except DuplicateKeyError:
                return False
            await rounds.delete_many({"tenant": self._tenant, "at": {"$lt": now - ROUNDS_KEPT}})  # keeps it small
        return True

    async def save_plan(self, plan: BenchmarkPlanned) -> None:
        now = utc_now()
        with translated_errors():
            # a plan may arrive for a benchmark the gateway did not record (another producer)
            await _upsert(
                lambda: self._benchmarks.update_one(
                    self._key(plan.benchmark_id),
                    {
                        "$set": {
                            "plan": plan.model_dump(mode="json", by_alias=True),
                            "evaluations": plan.expected_samples,
                            "name": plan.name,
                            "suite": plan.suite,
                            "updatedAt": now,
                        },
                        "$setOnInsert": {
                            **self._new_benchmark(plan.benchmark_id, plan.planned_at),
                            "status": "running",
                            "trigger": "api",
                        },
                    },
                    upsert=True,
                )
            )
            await self._benchmarks.update_one(
                {**self._key(plan.benchmark_id), "status": "pending"}, {"$set": {"status": "running"}}
            )
            # a request published by someone else than the gateway is watched from its plan on
            await _upsert(
                lambda: self._in_flight.update_one(
                    self._key(plan.benchmark_id),
                    {
                        "$setOnInsert": {
                            "tenant": self._tenant,
                            "benchmarkId": plan.benchmark_id,
                            "createdAt": plan.planned_at,
                            "queued": True,
                            "redrives": 0,
                        }
                    },
                    upsert=True,
                )
            )

    async def save_scores(self, scores: SampleScores) -> int:
        """Insert each sample's score once; a replayed shard's duplicates are refused by `_id`.

        Inserts, not upserts: FerretDB's SQLite backend scans the collection for an upsert's
        filter, while an `_id` clash is found at once. The first stored score of a sample stands.
        Returns how many were new.
        """
        documents = [
            {
                "_id": self._score_id(scores.benchmark_id, scores.model, scores.task, s.sample_id),
                "tenant": self._tenant,
                "benchmarkId": scores.benchmark_id,
                "model": scores.model,
                "task": scores.task,
                "sampleId": s.sample_id,
                "shard": scores.shard,
                "score": s.model_dump(mode="json", by_alias=True),
            }
            for s in scores.scores
        ]
        if not documents:
            return 0
        with translated_errors():
            try:
                return len((await self._scores.insert_many(documents, ordered=False)).inserted_ids)
            except BulkWriteError as exc:
                if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                    raise
                return int(exc.details.get("nInserted", 0))

    async def count_scores(self, benchmark_id: str) -> int:
        with translated_errors():
            return await self._scores.count_documents({"tenant": self._tenant, "benchmarkId": benchmark_id})

    async def load_scores(self, benchmark_id: str) -> list[ScoredSample]:
        with translated_errors(), pymongo.timeout(LONG_READ_S):
            cursor = self._scores.find(
                {"tenant": self._tenant, "benchmarkId": benchmark_id}, {"_id": 0, "model": 1, "task": 1, "score": 1}
            )
            return [ScoredSample(d["model"], d["task"], SampleScore.model_validate(d["score"])) async for d in cursor]

    async def complete(self, benchmark_id: str, report: dict[str, Any]) -> None:
        await self._set(benchmark_id, {"status": "completed", "report": report, "reason": None})
        await self.forget_in_flight(benchmark_id)

    async def fail(self, benchmark_id: str, reason: str) -> None:
        await self._set(benchmark_id, {"status": "failed", "reason": stored_reason(reason)}, unless=FINISHED)
        await self.forget_in_flight(benchmark_id)

    async def get_benchmark(self, benchmark_id: str) -> BenchmarkRecord | None:
        with translated_errors():
            document = await self._benchmarks.find_one(self._key(benchmark_id))
        return _record(document) if document else None

    async def list_benchmarks(
        self, *, limit: int = 20, offset: int = 0, where: BenchmarkFilter = BenchmarkFilter(), every_tenant: bool = False
    ) -> list[BenchmarkRecord]:
        """Newest first; `every_tenant` only for the aggregator's gauges at start-up, never for an API answer."""
        check_page(limit, offset)
        if limit == 0:
            return []  # a cursor's limit(0) means no limit at all
        query: dict[str, Any] = {} if every_tenant else {"tenant": self._tenant}
        for field, value in (
            ("suite", where.suite),
            ("trigger", where.trigger),
            ("status", where.status),
            ("spec.models.name", where.model),
        ):
            if value is not None:
                query[field] = value  # spec.models is an array: a dotted path matches any of its elements
        with translated_errors(), pymongo.timeout(LONG_READ_S):
            cursor = (
                self._benchmarks.find(query)
                .sort([("createdAt", DESCENDING), ("benchmarkId", ASCENDING)])
                .skip(offset)
                .limit(limit)
            )
            return [_record(document) async for document in cursor]

    async def set_baseline(self, suite: str, models: dict[str, str]) -> None:
        def pin(model: str, benchmark_id: str) -> Callable[[], Awaitable[UpdateResult]]:
            return lambda: self._db["baselines"].update_one(
                {"_id": json.dumps([self._tenant, suite, model])},
                {"$set": {"tenant": self._tenant, "suite": suite, "model": model, "benchmarkId": benchmark_id}},
                upsert=True,
            )

        with translated_errors():
            for model, benchmark_id in models.items():
                await _upsert(pin(model, benchmark_id))

    async def get_baseline(self, suite: str) -> dict[str, str]:
        with translated_errors():
            cursor = self._db["baselines"].find({"tenant": self._tenant, "suite": suite}).sort("model", ASCENDING)
            return {d["model"]: d["benchmarkId"] async for d in cursor}

    async def close(self) -> None:
        await self._client.close()

    async def _set(self, benchmark_id: str, fields: dict[str, Any], *, unless: tuple[str, ...] = ()) -> None:
        """Set `fields`, unless the benchmark's status is one of `unless`."""
        spared: dict[str, Any] = {"status": {"$nin": list(unless)}} if unless else {}
        with translated_errors():
            await self._benchmarks.update_one({**self._key(benchmark_id), **spared}, {"$set": {**fields, "updatedAt": utc_now()}})


def _record(document: dict[str, Any]) -> BenchmarkRecord:
    return BenchmarkRecord(
        benchmark_id=document["benchmarkId"],
        tenant=document["tenant"],
        name=document["name"],
        suite=document["suite"],
        status=document["status"],
        trigger=document.get("trigger", "api"),
        created_at=as_utc(document["createdAt"]),
        updated_at=as_utc(document["updatedAt"]),
        spec=document.get("spec") or {},
        plan=BenchmarkPlanned.model_validate(document["plan"]) if document.get("plan") else None,
        report=document.get("report"),
        reason=document.get("reason"),
        cause=document.get("cause") or {},
        request_digest=document.get("requestDigest"),
    )
