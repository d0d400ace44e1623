"""The audit trail: who changed what, and when, per tenant (key creation and revocation, suites,
baselines, deployments, credentials). Append-only; admins read it at GET /v1/audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import translated_errors

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._entries = database["audit"]

    async def ensure_indexes(self) -> None:
        with translated_errors():
            await self._entries.create_index([("tenant", ASCENDING), ("at", DESCENDING)], name="newest")

    async def record(
        self, tenant: str, *, actor: str, action: str, target: str, at: datetime, detail: dict[str, Any] | None = None
    ) -> None:
        """`action` is a dotted verb (`suite.delete`), `target` what it acted on; `detail` holds no secret."""
        with translated_errors():
            await self._entries.insert_one(
                {"tenant": tenant, "at": at, "actor": actor, "action": action, "target": target, "detail": detail or {}}
            )

    async def list(self, tenant: str, *, limit: int, offset: int = 0, action: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        query: dict[str, Any] = {"tenant": tenant}
        if action is not None:
            query["action"] = action
        with translated_errors():
            cursor = self._entries.find(query, {"_id": 0, "tenant": 0}).sort("at", DESCENDING).skip(offset).limit(limit)
            return [{**entry, "at": entry["at"].isoformat()} async for entry in cursor]
