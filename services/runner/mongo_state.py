"""Runner state kept in MongoDB, shared by every runner replica: rate budgets, the response
cache, and the tenants' provider credentials (read only: admins store them at the gateway).

Budgets: a window's allowance is a set of numbered slots, and taking one is inserting a document
with the slot's `_id`. A unique `_id` insert is atomic on MongoDB and on FerretDB alike, unlike
`$inc`, which FerretDB 1.24 applies as read-modify-write (concurrent increments get lost), so
replicas racing for one window never take more slots than it has. Old windows are left behind
(tiny documents; FerretDB has no TTL indexes): drop `rate_budgets` to clear them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.runner.pacing import WindowPlan
from shared.credentials import CredentialStore
from shared.mongo import translated_errors
from shared.settings import Settings

__all__ = ["MongoRunnerState"]

MAX_SLOTS = 200
"""Slots a window is cut into at most: a tokens budget takes ceil(tokens / (allowance / 200)) slots."""


class MongoRunnerState:
    """A RateBudget, a ResponseCache and a CredentialSource over one lazily opened client."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._next_slot: dict[str, int] = {}
        self._credentials: CredentialStore | None = None

    def _collection(self, name: str = "rate_budgets") -> AsyncCollection[dict[str, Any]]:
        if self._client is None:  # opened on first use, in the serving event loop
            self._client = AsyncMongoClient(
                self._settings.mongo_url, serverSelectionTimeoutMS=5_000, timeoutMS=int(self._settings.store_timeout_s * 1000)
            )
        return self._client[self._settings.mongo_database][name]

    async def ping(self) -> None:
        """Readiness: the database behind every replica's budgets and cache answers."""
        with translated_errors("for rate budgets and the cache"):
            await self._collection().database.command("ping")

    async def get_response(self, key: str) -> dict[str, Any] | None:
        with translated_errors("for the response cache"):
            document = await self._collection("responses").find_one({"_id": f"{self._settings.tenant}|{key}"})
        return document["completion"] if document else None

    async def put_response(self, key: str, completion: dict[str, Any]) -> None:
        # DuplicateKeyError: another runner stored the same answer at the same moment
        with translated_errors("for the response cache"), suppress(DuplicateKeyError):
            await self._collection("responses").update_one(
                {"_id": f"{self._settings.tenant}|{key}"},
                {"$set": {"completion": completion}},
                upsert=True,
            )

    async def resolve(self, tenant: str, name: str, base_url: str) -> str:
        """The tenant's credential `name` for `base_url` (CredentialStore.resolve)."""
        if self._credentials is None:
            self._credentials = CredentialStore(self._collection().database, keys=self._settings.credentials_key)
        return await self._credentials.resolve(tenant, name, base_url)

    async def take(self, key: str, plan: WindowPlan, amount: int) -> float:
        now = self._clock()
        index = int(now // plan.window_s)
        slots = min(plan.per_window, MAX_SLOTS)
        chunk = math.ceil(plan.per_window / slots)  # a slot of a tokens budget stands for `chunk` tokens
        needed = min(slots, max(1, math.ceil(amount / chunk)))
        window = f"{self._settings.tenant}|{key}|{plan.window_s}|{index}"
        taken, slot = 0, self._next_slot.get(window, 0)
        collection = self._collection()
        with translated_errors("for the rate budget"):
            while taken < needed and slot < slots:
                try:
                    await collection.insert_one({"_id": f"{window}|{slot}"})
                    taken += 1
                except DuplicateKeyError:
                    pass  # another replica has it: try the next
                slot += 1
        self._next_slot = {window: slot}  # where this process goes on in this window
        if taken == needed:
            return 0.0
        # too few slots left: what we took stays taken (erring on the safe side); wait for the next window
        return (index + 1) * plan.window_s - now

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
