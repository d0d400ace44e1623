"""The distributed store: MongoDB (or FerretDB) through PyMongo's async client.

Same interface as the SQLite store. Works on MongoDB 6+ and FerretDB 1.24: single-document
writes and upserts only (no transactions, no change streams). Unique indexes make replays no-ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, ServerSelectionTimeoutError

from services.aggregator.report import ScoredSample
from services.aggregator.store import BenchmarkRecord
from shared.errors import StoreUnavailable
from shared.events import BenchmarkPlanned, BenchmarkRequested, SampleScore, SampleScores, utc_now
from shared.settings import Settings

__all__ = ["MongoStore"]

SERVER_SELECTION_TIMEOUT_MS = 5_000
DUPLICATE_KEY = 11000


@contextmanager
def _translated() -> Iterator[None]:
    """Unreachable servers become StoreUnavailable (retryable); anything else stays a bug."""
    try:
        yield
    except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
        raise StoreUnavailable(f"MongoDB unreachable: {exc}") from exc


class MongoStore:
    def __init__(self, client: AsyncMongoClient, database: str, *, tenant: str) -> None:
        self._client = client
        self._db: AsyncDatabase = client[database]
        self._benchmarks = self._db["benchmarks"]
        self._scores = self._db["sample_scores"]
        self._tenant = tenant

    @classmethod
    async def connect(cls, settings: Settings) -> MongoStore:
        """Open a client (in the running event loop) and make sure the indexes exist."""
        client: AsyncMongoClient = AsyncMongoClient(
            settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
        )
        store = cls(client, settings.mongo_database, tenant=settings.tenant)
        await store.ensure_indexes()
        return store

    async def ensure_indexes(self) -> None:
        with _translated():
            await self._benchmarks.create_index(
                [("tenant", ASCENDING), ("benchmarkId", ASCENDING)], unique=True, name="benchmark_id"
            )
            await self._benchmarks.create_index([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="newest")
            await self._scores.create_index(
                [("tenant", ASCENDING), ("benchmarkId", ASCENDING), ("model", ASCENDING), ("task", ASCENDING), ("sampleId", ASCENDING)],
                unique=True,
                name="one_score_per_sample",
            )

    async def ping(self) -> None:
        with _translated():
            await self._db.command("ping")

    def _key(self, benchmark_id: str) -> dict[str, str]:
        return {"tenant": self._tenant, "benchmarkId": benchmark_id}

    async def create_benchmark(self, request: BenchmarkRequested) -> None:
        with _translated():
            await self._benchmarks.update_one(
                self._key(request.benchmark_id),
                {
                    "$setOnInsert": {
                        "name": request.spec.name,
                        "suite": request.spec.suite_name,
                        "status": "pending",
                        "trigger": request.trigger,
                        "createdAt": request.requested_at,
                        "updatedAt": request.requested_at,
                        "spec": request.spec.model_dump(mode="json", by_alias=True),
                    }
                },
                upsert=True,
            )

    async def save_plan(self, plan: BenchmarkPlanned) -> None:
        now = utc_now()
        with _translated():
            # a plan may arrive for a benchmark the gateway did not record (another producer)
            await self._benchmarks.update_one(
                self._key(plan.benchmark_id),
                {
                    "$set": {"plan": plan.model_dump(mode="json", by_alias=True), "updatedAt": now},
                    "$setOnInsert": {
                        "name": plan.name,
                        "suite": plan.suite,
                        "status": "running",
                        "trigger": "api",
                        "createdAt": plan.planned_at,
                        "spec": {},
                    },
                },
                upsert=True,
            )
            await self._benchmarks.update_one(
                {**self._key(plan.benchmark_id), "status": "pending"}, {"$set": {"status": "running"}}
            )

    async def save_scores(self, scores: SampleScores) -> int:
        """Insert each sample's score once; a replayed shard's duplicates are refused by the index.

        Inserts rather than upserts: FerretDB's SQLite backend scans the collection for every
        upsert filter, while the unique index check on insert is cheap. The first score stands.
        """
        documents = [
            {
                **self._key(scores.benchmark_id),
                "model": scores.model,
                "task": scores.task,
                "sampleId": s.sample_id,
                "score": s.model_dump(mode="json", by_alias=True),
            }
            for s in scores.scores
        ]
        if documents:
            with _translated():
                try:
                    await self._scores.insert_many(documents, ordered=False)
                except BulkWriteError as exc:
                    if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                        raise
        return await self.count_scores(scores.benchmark_id)

    async def count_scores(self, benchmark_id: str) -> int:
        with _translated():
            return await self._scores.count_documents(self._key(benchmark_id))

    async def load_scores(self, benchmark_id: str) -> list[ScoredSample]:
        with _translated():
            cursor = self._scores.find(self._key(benchmark_id), {"_id": 0, "model": 1, "task": 1, "score": 1})
            return [ScoredSample(d["model"], d["task"], SampleScore.model_validate(d["score"])) async for d in cursor]

    async def complete(self, benchmark_id: str, report: dict[str, Any]) -> None:
        await self._set(benchmark_id, {"status": "completed", "report": report, "reason": None})

    async def fail(self, benchmark_id: str, reason: str) -> None:
        await self._set(benchmark_id, {"status": "failed", "reason": reason})

    async def get_benchmark(self, benchmark_id: str) -> BenchmarkRecord | None:
        with _translated():
            document = await self._benchmarks.find_one(self._key(benchmark_id))
        return _record(document) if document else None

    async def list_benchmarks(self, *, limit: int = 20, offset: int = 0) -> list[BenchmarkRecord]:
        with _translated():
            cursor = (
                self._benchmarks.find({"tenant": self._tenant})
                .sort([("createdAt", DESCENDING), ("benchmarkId", ASCENDING)])
                .skip(offset)
                .limit(limit)
            )
            return [_record(document) async for document in cursor]

    async def close(self) -> None:
        await self._client.close()

    async def _set(self, benchmark_id: str, fields: dict[str, Any]) -> None:
        with _translated():
            await self._benchmarks.update_one(self._key(benchmark_id), {"$set": {**fields, "updatedAt": utc_now()}})


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _record(document: dict[str, Any]) -> BenchmarkRecord:
    return BenchmarkRecord(
        benchmark_id=document["benchmarkId"],
        tenant=document["tenant"],
        name=document["name"],
        suite=document["suite"],
        status=document["status"],
        trigger=document.get("trigger", "api"),
        created_at=_utc(document["createdAt"]),
        updated_at=_utc(document["updatedAt"]),
        spec=document.get("spec") or {},
        plan=BenchmarkPlanned.model_validate(document["plan"]) if document.get("plan") else None,
        report=document.get("report"),
        reason=document.get("reason"),
    )


