"""The embedded store: one SQLite file (standard library), the same interface as MongoDB's,
and the response cache of the embedded runtime.

Calls are synchronous inside the async methods: a local file answers in microseconds, and one
connection on one thread keeps SQLite's locking simple. Times are stored as ISO 8601 text in UTC
to the millisecond (shared/results/store.py), so text order is time order.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.events import BenchmarkPlanned, BenchmarkRequested, SampleScore, SampleScores, Status, utc_now
from shared.results.report import ScoredSample
from shared.results.store import (
    FINISHED,
    SCORE_BATCH,
    BenchmarkFilter,
    BenchmarkRecord,
    as_utc,
    cause_of,
    check_page,
    stored_reason,
    stored_time,
)

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS benchmarks (
    tenant       TEXT NOT NULL,
    benchmark_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    suite        TEXT NOT NULL,
    status       TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    spec         TEXT NOT NULL,
    plan         TEXT,
    report       TEXT,
    reason       TEXT,
    cause        TEXT,
    request_digest TEXT,
    evaluations  INTEGER,
    PRIMARY KEY (tenant, benchmark_id)
);
CREATE INDEX IF NOT EXISTS benchmarks_newest ON benchmarks (tenant, created_at DESC);
CREATE TABLE IF NOT EXISTS baselines (
    tenant       TEXT NOT NULL,
    suite        TEXT NOT NULL,
    model        TEXT NOT NULL,
    benchmark_id TEXT NOT NULL,
    PRIMARY KEY (tenant, suite, model)
);
CREATE TABLE IF NOT EXISTS responses (
    tenant     TEXT NOT NULL,
    key        TEXT NOT NULL,
    completion TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE TABLE IF NOT EXISTS sample_scores (
    tenant       TEXT NOT NULL,
    benchmark_id TEXT NOT NULL,
    model        TEXT NOT NULL,
    task         TEXT NOT NULL,
    sample_id    TEXT NOT NULL,
    score        TEXT NOT NULL,
    PRIMARY KEY (tenant, benchmark_id, model, task, sample_id)
);
"""
_ADDED_COLUMNS = {"cause": "TEXT", "request_digest": "TEXT", "evaluations": "INTEGER"}
"""Columns a file written by an older version may lack: added when it is opened."""


class SqliteStore:
    def __init__(self, path: Path, *, tenant: str = "default") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(benchmarks)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in columns:
                with self._db:
                    self._db.execute(f"ALTER TABLE benchmarks ADD COLUMN {column} {kind}")
        self._tenant = tenant
        self.path = path

    @property
    def tenant(self) -> str:
        return self._tenant

    def for_tenant(self, tenant: str) -> SqliteStore:
        """The same file, bound to another tenant (sharing this connection: closing it closes ours)."""
        other = copy.copy(self)
        other._tenant = tenant
        return other

    async def create_benchmark(
        self, request: BenchmarkRequested, *, digest: str | None = None, evaluations: int | None = None
    ) -> bool:
        now = _text(request.requested_at)
        with self._db:
            created = self._db.execute(
                "INSERT OR IGNORE INTO benchmarks (tenant, benchmark_id, name, suite, status, trigger_kind,"
                " created_at, updated_at, spec, cause, request_digest, evaluations)"
                " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._tenant,
                    request.benchmark_id,
                    request.spec.name,
                    request.spec.suite_name,
                    request.trigger,
                    now,
                    now,
                    json.dumps(request.spec.to_document()),
                    json.dumps(cause_of(request)),
                    digest,
                    evaluations,
                ),
            )
        return created.rowcount == 1

    async def save_plan(self, plan: BenchmarkPlanned) -> None:
        # a plan may arrive for a benchmark the gateway did not record (another producer)
        with self._db:
            self._db.execute(
                "INSERT INTO benchmarks (tenant, benchmark_id, name, suite, status, trigger_kind, created_at,"
                " updated_at, spec, plan, evaluations) VALUES (?, ?, ?, ?, 'running', 'api', ?, ?, '{}', ?, ?)"
                " ON CONFLICT (tenant, benchmark_id) DO UPDATE SET plan = excluded.plan, name = excluded.name,"
                " suite = excluded.suite, evaluations = excluded.evaluations, updated_at = excluded.updated_at,"
                " status = CASE status WHEN 'pending' THEN 'running' ELSE status END",
                (
                    self._tenant,
                    plan.benchmark_id,
                    plan.name,
                    plan.suite,
                    _text(plan.planned_at),
                    _text(utc_now()),
                    plan.model_dump_json(by_alias=True),
                    plan.expected_samples,
                ),
            )

    async def save_scores(self, scores: SampleScores) -> int:
        with self._db:
            inserted = self._db.executemany(
                "INSERT OR IGNORE INTO sample_scores (tenant, benchmark_id, model, task, sample_id, score)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (self._tenant, scores.benchmark_id, scores.model, scores.task, s.sample_id, s.model_dump_json())
                    for s in scores.scores
                ],
            )
        return inserted.rowcount

    async def count_scores(self, benchmark_id: str) -> int:
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM sample_scores WHERE tenant = ? AND benchmark_id = ?", (self._tenant, benchmark_id)
        ).fetchone()
        return int(count)

    async def load_scores(self, benchmark_id: str) -> list[ScoredSample]:
        rows = self._db.execute(
            "SELECT model, task, score FROM sample_scores WHERE tenant = ? AND benchmark_id = ?",
            (self._tenant, benchmark_id),
        )
        return [ScoredSample(r["model"], r["task"], SampleScore.model_validate_json(r["score"])) for r in rows]

    async def scored_so_far(self, record: BenchmarkRecord) -> int:
        """Counted: an indexed count in SQLite costs the benchmark's own size only."""
        if record.status == "completed" and record.plan is not None:
            return record.plan.expected_samples
        return await self.count_scores(record.benchmark_id)

    async def iter_scores(self, benchmark_id: str, *, batch: int = SCORE_BATCH) -> AsyncIterator[list[ScoredSample]]:
        # pages in primary-key order, each a query of its own: no cursor stays open while the
        # caller awaits (and may write on this connection)
        after = ("", "", "")
        while True:
            rows = self._db.execute(
                "SELECT model, task, sample_id, score FROM sample_scores WHERE tenant = ? AND benchmark_id = ?"
                " AND (model, task, sample_id) > (?, ?, ?) ORDER BY model, task, sample_id LIMIT ?",
                (self._tenant, benchmark_id, *after, batch),
            ).fetchall()
            if not rows:
                return
            yield [ScoredSample(r["model"], r["task"], SampleScore.model_validate_json(r["score"])) for r in rows]
            last = rows[-1]
            after = (last["model"], last["task"], last["sample_id"])

    async def complete(self, benchmark_id: str, report: dict[str, Any]) -> None:
        self._update(benchmark_id, status="completed", report=json.dumps(report), reason=None)

    async def fail(self, benchmark_id: str, reason: str) -> None:
        self._update(benchmark_id, status="failed", unless=FINISHED, reason=stored_reason(reason))

    async def get_benchmark(self, benchmark_id: str) -> BenchmarkRecord | None:
        row = self._db.execute(
            "SELECT * FROM benchmarks WHERE tenant = ? AND benchmark_id = ?", (self._tenant, benchmark_id)
        ).fetchone()
        return _record(row) if row else None

    async def list_benchmarks(
        self, *, limit: int = 20, offset: int = 0, where: BenchmarkFilter = BenchmarkFilter()
    ) -> list[BenchmarkRecord]:
        check_page(limit, offset)
        conditions, values = ["tenant = ?"], [self._tenant]
        for column, value in (("suite", where.suite), ("trigger_kind", where.trigger), ("status", where.status)):
            if value is not None:
                conditions.append(f"{column} = ?")
                values.append(value)
        if where.model is not None:
            conditions.append("EXISTS (SELECT 1 FROM json_each(spec, '$.models') WHERE json_extract(value, '$.name') = ?)")
            values.append(where.model)
        rows = self._db.execute(
            f"SELECT * FROM benchmarks WHERE {' AND '.join(conditions)} ORDER BY created_at DESC, benchmark_id LIMIT ? OFFSET ?",
            (*values, limit, offset),
        )
        return [_record(row) for row in rows]

    async def get_response(self, key: str) -> dict[str, Any] | None:
        """A stored model response (the runner's response cache, services/runner/cache.py)."""
        row = self._db.execute("SELECT completion FROM responses WHERE tenant = ? AND key = ?", (self._tenant, key)).fetchone()
        return json.loads(row["completion"]) if row else None

    async def put_response(self, key: str, completion: dict[str, Any]) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (tenant, key, completion) VALUES (?, ?, ?)",
                (self._tenant, key, json.dumps(completion)),
            )

    async def set_baseline(self, suite: str, models: dict[str, str]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO baselines (tenant, suite, model, benchmark_id) VALUES (?, ?, ?, ?)",
                [(self._tenant, suite, model, benchmark_id) for model, benchmark_id in models.items()],
            )

    async def get_baseline(self, suite: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT model, benchmark_id FROM baselines WHERE tenant = ? AND suite = ? ORDER BY model", (self._tenant, suite)
        )
        return {row["model"]: row["benchmark_id"] for row in rows}

    async def close(self) -> None:
        self._db.close()

    def _update(self, benchmark_id: str, *, status: Status, unless: tuple[Status, ...] = (), **columns: str | None) -> None:
        """Set the status and `columns`, unless the benchmark's status is one of `unless`."""
        assignments = "".join(f", {column} = ?" for column in columns)
        spared = f" AND status NOT IN ({', '.join('?' for _ in unless)})" if unless else ""
        with self._db:
            self._db.execute(
                f"UPDATE benchmarks SET status = ?, updated_at = ?{assignments} WHERE tenant = ? AND benchmark_id = ?{spared}",
                (status, _text(utc_now()), *columns.values(), self._tenant, benchmark_id, *unless),
            )


def _text(moment: datetime) -> str:
    """A time as stored: fixed-width ISO 8601 in UTC, to the millisecond."""
    return stored_time(moment).isoformat(timespec="milliseconds")


def _record(row: sqlite3.Row) -> BenchmarkRecord:
    return BenchmarkRecord(
        benchmark_id=row["benchmark_id"],
        tenant=row["tenant"],
        name=row["name"],
        suite=row["suite"],
        status=row["status"],
        trigger=row["trigger_kind"],
        created_at=as_utc(datetime.fromisoformat(row["created_at"])),
        updated_at=as_utc(datetime.fromisoformat(row["updated_at"])),
        spec=json.loads(row["spec"]),
        plan=BenchmarkPlanned.model_validate_json(row["plan"]) if row["plan"] else None,
        report=json.loads(row["report"]) if row["report"] else None,
        reason=row["reason"],
        cause=json.loads(row["cause"]) if row["cause"] else {},
        request_digest=row["request_digest"],
    )
