"""Runner state kept in MongoDB, shared by every runner replica: rate budgets and the
response cache.

Budgets: one document per budget, window length and window index; `$inc` on it is atomic, so
replicas racing for the same window never grant more than the window allows. Old windows are
left behind (tiny documents; FerretDB has no TTL indexes): drop `rate_budgets` to clear them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from services.runner.adapters.base import Completion
from services.runner.pacing import WindowPlan
from shared.errors import StoreUnavailable
from shared.settings import Settings

__all__ = ["MongoRunnerState"]


class MongoRunnerState:
    """A RateBudget and a ResponseCache over one lazily opened client."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._client: AsyncMongoClient | None = None

    def _collection(self, name: str = "rate_budgets"):  # noqa: ANN202
        if self._client is None:  # opened on first use, in the serving event loop
            self._client = AsyncMongoClient(self._settings.mongo_url, serverSelectionTimeoutMS=5_000)
        return self._client[self._settings.mongo_database][name]

    async def get_response(self, key: str) -> Completion | None:
        try:
            document = await self._collection("responses").find_one({"_id": f"{self._settings.tenant}|{key}"})
        except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
            raise StoreUnavailable(f"MongoDB unreachable for the response cache: {exc}") from exc
        return Completion(**document["completion"]) if document else None

    async def put_response(self, key: str, completion: Completion) -> None:
        try:
            await self._collection("responses").update_one(
                {"_id": f"{self._settings.tenant}|{key}"},
                {"$set": {"completion": asdict(completion)}},
                upsert=True,
            )
        except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
            raise StoreUnavailable(f"MongoDB unreachable for the response cache: {exc}") from exc

    async def take(self, key: str, plan: WindowPlan, amount: int) -> float:
        now = self._clock()
        index = int(now // plan.window_s)
        window = {"_id": f"{self._settings.tenant}|{key}|{plan.window_s}|{index}"}
        collection = self._collection()
        try:
            taken = await collection.find_one_and_update(
                window, {"$inc": {"used": amount}}, upsert=True, return_document=ReturnDocument.AFTER
            )
            if taken["used"] - amount == 0 or taken["used"] <= plan.per_window:
                return 0.0
            await collection.update_one(window, {"$inc": {"used": -amount}})  # give back what we may not use
        except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
            raise StoreUnavailable(f"MongoDB unreachable for the rate budget: {exc}") from exc
        return (index + 1) * plan.window_s - now

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
