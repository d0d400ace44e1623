"""Pacing calls to a model endpoint: concurrency, rate budgets, retries. Pure asyncio.

One PacedModel wraps each model adapter and is shared by every shard a runner process works on:
- a concurrency limit that adapts (AIMD): sustained 429s halve it, successes grow it back by
  about one request per round trip, so a run rides a provider's limit instead of failing;
- requests-per-minute and tokens-per-minute budgets, taken from a RateBudget that may live in
  the store (shared by every runner replica) or in memory;
- retries with exponential backoff and full jitter on retryable errors (429, 5xx, timeouts,
  connection errors), honouring Retry-After; after the retry budget the error is raised and the
  executor records it on the sample.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from services.runner.adapters.base import Completion, GenerationRequest, ModelAdapter
from shared.errors import ModelError, RateLimited
from shared.spec import Limits

__all__ = [
    "AdaptiveLimit",
    "RateBudget",
    "MemoryBudget",
    "WindowPlan",
    "window_plan",
    "PacedModel",
    "estimate_tokens",
]

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0

DECREASE_COOLDOWN_S = 1.0
"""At most one halving per second: a burst of 429s from one overload is one signal, not ten."""


class AdaptiveLimit:
    """A concurrency limit with additive increase and multiplicative decrease.

    Waiters queue first come, first served; a freed slot is handed straight to the next waiter
    (counted for it at once), so a request arriving meanwhile cannot take it and each waiter is
    woken exactly once (with a Condition, woken waiters lost races and waited again: several
    wake-ups per request with a few shards queued)."""

    def __init__(self, maximum: int, *, adaptive: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.in_flight = 0
        self._adaptive = adaptive
        self._clock = clock
        self._last_decrease = -math.inf
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if not self._waiters and self.in_flight < max(1, int(self.limit)):
            self.in_flight += 1
            return
        slot = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self.release()  # handed a slot, then cancelled before it could use it
            elif slot in self._waiters:
                self._waiters.remove(slot)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters and self.in_flight < max(1, int(self.limit)):
            slot = self._waiters.popleft()
            if not slot.done():  # a cancelled waiter is skipped
                slot.set_result(None)
                self.in_flight += 1

    def on_rate_limited(self) -> None:
        now = self._clock()
        if self._adaptive and now - self._last_decrease >= DECREASE_COOLDOWN_S:
            self.limit = max(1.0, self.limit / 2)
            self._last_decrease = now

    def on_success(self) -> None:
        if self._adaptive and self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            self._hand_over()


@dataclass(frozen=True, slots=True)
class WindowPlan:
    window_s: int
    per_window: int


def window_plan(per_minute: int) -> WindowPlan:
    """Fixed windows that keep ANY sliding minute within `per_minute`.

    A sliding minute touches at most 60/W + 1 windows of W seconds, so each window may take
    floor(per_minute / (60/W + 1)). Among the divisors of 60, pick the W that lets the most
    through in steady state.
    """
    best = WindowPlan(60, max(1, per_minute // 2))
    for window_s in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60):
        windows = 60 // window_s
        per_window = per_minute // (windows + 1)
        if per_window >= 1 and windows * per_window > (60 // best.window_s) * best.per_window:
            best = WindowPlan(window_s, per_window)
    return best


class RateBudget(Protocol):
    async def take(self, key: str, plan: WindowPlan, amount: int) -> float:
        """Take `amount` from the current window of budget `key`: 0.0 if granted, else the
        seconds until the next window (nothing taken). A window's first taker always gets it,
        so one request larger than a window cannot wait forever."""
        ...


class MemoryBudget:
    """A RateBudget for one process (the embedded runtime, or tests)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._used: dict[tuple[str, int, int], int] = {}
        self._clock = clock

    async def take(self, key: str, plan: WindowPlan, amount: int) -> float:
        now = self._clock()
        index = int(now // plan.window_s)
        slot = (key, plan.window_s, index)
        used = self._used.get(slot, 0)
        if used and used + amount > plan.per_window:
            return (index + 1) * plan.window_s - now
        self._used = {k: v for k, v in self._used.items() if k[2] >= index - 1}  # forget old windows
        self._used[slot] = used + amount
        return 0.0


def estimate_tokens(request: GenerationRequest) -> int:
    """Tokens a request may use, before the provider says: ~4 characters a token, plus the
    completion allowance. Conservative on purpose: a tokens budget must not be overrun."""
    return (len(request.system) + len(request.prompt)) // 4 + request.params.max_tokens


class PacedModel:
    """A ModelAdapter that paces and retries another one."""

    def __init__(
        self,
        adapter: ModelAdapter,
        limits: Limits,
        *,
        budget_key: str,
        budget: RateBudget,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._adapter = adapter
        self._limits = limits
        self._budget_key = budget_key
        self._budget = budget
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.concurrency = AdaptiveLimit(limits.concurrency, adaptive=limits.adaptive)
        self._request_plan = window_plan(limits.requests_per_minute) if limits.requests_per_minute else None
        self._token_plan = window_plan(limits.tokens_per_minute) if limits.tokens_per_minute else None

    async def generate(self, request: GenerationRequest) -> Completion:
        attempt = 0
        while True:
            await self._wait_for_budget(request)
            await self.concurrency.acquire()
            try:
                completion = await self._adapter.generate(request)
            except ModelError as exc:
                if isinstance(exc, RateLimited):
                    self.concurrency.on_rate_limited()
                if not exc.retryable or attempt >= self._limits.max_retries:
                    raise
                delay = self._delay(attempt, exc)
                log.debug("%s; retry %d of %d in %.2fs", exc, attempt + 1, self._limits.max_retries, delay)
            else:
                self.concurrency.on_success()
                return completion
            finally:
                self.concurrency.release()
            attempt += 1
            await self._sleep(delay)  # outside the limit: a waiting retry holds no slot

    def _delay(self, attempt: int, error: ModelError) -> float:
        retry_after = error.retry_after_s if isinstance(error, RateLimited) else None
        if retry_after is not None:
            return retry_after + self._rng.uniform(0, 0.1 * retry_after + 0.01)
        return self._rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**attempt))  # full jitter

    async def _wait_for_budget(self, request: GenerationRequest) -> None:
        for plan, amount, suffix in (
            (self._request_plan, 1, "requests"),
            (self._token_plan, estimate_tokens(request), "tokens"),
        ):
            if plan is None:
                continue
            while (wait := await self._budget.take(f"{self._budget_key}|{suffix}", plan, amount)) > 0:
                await self._sleep(wait + self._rng.uniform(0, 0.05))

    async def aclose(self) -> None:
        await self._adapter.aclose()
