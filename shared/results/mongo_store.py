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

A benchmark's scores are never found by query. FerretDB 1.24's SQLite backend pushes down only
a filter that is a single `_id` equality, and even that SQL does not use the table's `_id` index
(its expression differs from the index's: `EXPLAIN` says SCAN), so every count, find, aggregate
or upsert reads its whole collection (measured at 20,200 stored scores: 2.5-3.4 s for a count
of 200, however it is asked). What a read costs is the size of the collection it reads. So each
benchmark keeps its scores in a collection of its own (`scores_<hash>`, `_id` = model + task +
sample, which refuses a second score of a sample): counting and loading them cost its own size
whatever else is stored, on MongoDB and FerretDB alike. (Copying them to a shared archive when
it finishes, to keep few collections, read and wrote 20,000 scores again: 5-10 s.) Benchmarks
stored by earlier versions (no `ownScores` in their document or `in_flight` entry) are still
read from `sample_scores` as well.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.results import UpdateResult

from shared.events import BenchmarkPlanned, BenchmarkRequested, SampleScore, SampleScores, utc_now
from shared.mongo import translated_errors
from shared.results.report import ScoredSample
from shared.results.store import (
    FINISHED,
    SCORE_BATCH,
    BenchmarkFilter,
    BenchmarkRecord,
    InFlight,
    as_utc,
    cause_of,
    check_page,
    stored_reason,
)
from shared.settings import Settings

__all__ = ["MongoStore", "scores_collection"]

T = TypeVar("T")
Document = dict[str, Any]
SERVER_SELECTION_TIMEOUT_MS = 5_000
DUPLICATE_KEY = 11000
ROUNDS_KEPT = timedelta(hours=1)
LONG_READ_S = 120.0
"""Reads of a whole benchmark's scores may take longer than one operation's BENCH_STORE_TIMEOUT_S."""
SCORES_PREFIX = "scores_"
READ_BATCH = 1000
"""Scores read at a time when counting or loading a benchmark's scores."""


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

    def _own(self, benchmark_id: str) -> AsyncCollection[Document]:
        return self._db[scores_collection(self._tenant, benchmark_id)]

    def _new_benchmark(self, benchmark_id: str, created_at: datetime) -> dict[str, Any]:
        """Fields of a benchmark document that whoever writes first creates (`ownScores`: all
        its scores are in its own collection)."""
        return {"tenant": self._tenant, "benchmarkId": benchmark_id, "createdAt": created_at, "ownScores": True}

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
                            "ownScores": True,
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

    async def scored_so_far(self, record: BenchmarkRecord) -> int:
        """Scores stored, for a reader of progress, read without counting: every planned one once
        completed; once failed, those it had then; while it runs, what the aggregator noted at its
        last shard (0 before the first). Counted only for benchmarks older than these notes."""
        if record.status == "completed" and record.plan is not None:
            return record.plan.expected_samples
        failed = record.status == "failed"
        with translated_errors():
            noted = await (self._benchmarks if failed else self._in_flight).find_one(
                self._key(record.benchmark_id), {"scored": 1}
            )
        if noted is not None and (not failed or "scored" in noted):
            return int(noted.get("scored") or 0)
        return await self.count_scores(record.benchmark_id)

    async def forget_in_flight(self, benchmark_id: str) -> None:
        with translated_errors():
            await self._in_flight.delete_one(self._key(benchmark_id))

    async def shard_counts(self, benchmark_id: str) -> dict[tuple[str, str, int], int]:
        """Stored scores per model x task x shard (scores stored before shards were recorded count as shard -1)."""
        counts: dict[tuple[str, str, int], int] = {}
        async for batch in self._stored(benchmark_id, READ_BATCH):
            for model, task, shard, _ in batch:
                counts[(model, task, shard)] = counts.get((model, task, shard), 0) + 1
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
                            "ownScores": True,
                        }
                    },
                    upsert=True,
                )
            )

    async def save_scores(self, scores: SampleScores) -> int:
        """Insert each sample's score once, into the benchmark's own collection; a replayed
        shard's duplicates are refused by `_id`. The first stored score of a sample stands.
        Returns how many were new.
        """
        documents = [
            {
                "_id": json.dumps([scores.model, scores.task, s.sample_id]),
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
                return len((await self._own(scores.benchmark_id).insert_many(documents, ordered=False)).inserted_ids)
            except BulkWriteError as exc:
                if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                    raise
                return int(exc.details.get("nInserted", 0))

    async def _only_own(self, benchmark_id: str) -> bool:
        """Whether all its scores are in its own collection (it was stored by this version)."""
        with translated_errors():
            entry = await self._in_flight.find_one(self._key(benchmark_id), {"ownScores": 1})
            if entry is None:  # finished, or never watched
                entry = await self._benchmarks.find_one(self._key(benchmark_id), {"ownScores": 1})
        return entry is not None and bool(entry.get("ownScores"))

    async def _stored(self, benchmark_id: str, batch: int) -> AsyncIterator[list[tuple[str, str, int, Document]]]:
        """(model, task, shard, score) of every stored score of the benchmark once, `batch` at a
        time (a timeout per read, not over the caller's work between batches)."""
        fields = {"_id": 0, "model": 1, "task": 1, "shard": 1, "score": 1}
        sources = [self._own(benchmark_id).find({}, fields)]
        seen: set[tuple[str, str, str]] | None = None  # only scores of two collections may repeat
        if not await self._only_own(benchmark_id):
            sources.append(self._scores.find({"tenant": self._tenant, "benchmarkId": benchmark_id}, fields))
            seen = set()
        for cursor in sources:
            try:
                while True:
                    with translated_errors(), pymongo.timeout(LONG_READ_S):
                        documents = await cursor.to_list(batch)
                    if not documents:
                        break
                    stored = [(d["model"], d["task"], int(d.get("shard", -1)), d["score"]) for d in documents]
                    if seen is not None:
                        stored = [s for s in stored if (s[0], s[1], s[3]["sampleId"]) not in seen]
                        seen.update((s[0], s[1], s[3]["sampleId"]) for s in stored)
                    if stored:
                        yield stored
            finally:
                await cursor.close()

    async def _batches(self, benchmark_id: str, batch: int) -> AsyncIterator[list[ScoredSample]]:
        async for stored in self._stored(benchmark_id, batch):
            yield [ScoredSample(model, task, SampleScore.model_validate(score)) for model, task, _, score in stored]

    async def count_scores(self, benchmark_id: str) -> int:
        """Scores stored, counted in the benchmark's own collection alone (and in `sample_scores`
        for a benchmark stored by an earlier version)."""
        if await self._only_own(benchmark_id):
            with translated_errors(), pymongo.timeout(LONG_READ_S):
                return await self._own(benchmark_id).count_documents({})
        return sum([len(batch) async for batch in self._batches(benchmark_id, READ_BATCH)])

    async def load_scores(self, benchmark_id: str) -> list[ScoredSample]:
        return [scored async for batch in self._batches(benchmark_id, READ_BATCH) for scored in batch]

    async def iter_scores(self, benchmark_id: str, *, batch: int = SCORE_BATCH) -> AsyncIterator[list[ScoredSample]]:
        async for scored in self._batches(benchmark_id, batch):
            yield scored

    async def complete(self, benchmark_id: str, report: dict[str, Any]) -> None:
        await self._set(benchmark_id, {"status": "completed", "report": report, "reason": None})
        await self.forget_in_flight(benchmark_id)

    async def fail(self, benchmark_id: str, reason: str) -> None:
        scored = await self.count_scores(benchmark_id)
        fields = {"status": "failed", "reason": stored_reason(reason), "scored": scored}  # its progress, read without counting
        await self._set(benchmark_id, fields, unless=FINISHED)
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


def scores_collection(tenant: str, benchmark_id: str) -> str:
    """The name of the collection a benchmark's scores are kept in (one per benchmark: see the module's docstring)."""
    return SCORES_PREFIX + hashlib.sha256(json.dumps([tenant, benchmark_id]).encode()).hexdigest()[:32]


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
