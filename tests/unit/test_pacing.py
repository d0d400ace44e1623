"""Pacing: adaptive concurrency, windowed budgets, retries with backoff and Retry-After."""

from __future__ import annotations

import asyncio
import random

import pytest

from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.pacing import AdaptiveLimit, MemoryBudget, PacedModel, window_plan
from shared.errors import ModelRequestRejected, ModelUnavailable, RateLimited
from shared.spec import Limits

REQUEST = GenerationRequest(task_type="qa", system="s", prompt="p" * 40, inputs={})


@pytest.mark.parametrize("per_minute", [1, 2, 7, 60, 100, 600, 601, 1000, 9999, 100_000])
def test_window_plan_never_lets_a_sliding_minute_exceed_the_budget(per_minute: int) -> None:
    plan = window_plan(per_minute)
    assert 60 % plan.window_s == 0 and plan.per_window >= 1
    # any 60 s interval touches at most 60/W + 1 windows, each full at worst
    assert (60 // plan.window_s + 1) * plan.per_window <= max(per_minute, 2)
    if per_minute >= 100:
        assert (60 // plan.window_s) * plan.per_window >= 0.9 * per_minute  # and lets most through


async def test_memory_budget_grants_per_window_then_says_how_long_to_wait() -> None:
    now = [1000.0]
    budget = MemoryBudget(clock=lambda: now[0])
    plan = window_plan(600)
    granted = [await budget.take("k", plan, 1) for _ in range(plan.per_window)]
    assert granted == [0.0] * plan.per_window
    wait = await budget.take("k", plan, 1)
    assert 0 < wait <= plan.window_s
    now[0] += wait
    assert await budget.take("k", plan, 1) == 0.0
    assert await budget.take("other", plan, 10_000) == 0.0  # a window's first taker always gets it


async def test_sliding_minute_stays_within_the_budget_under_load() -> None:
    now = [5000.0]
    budget = MemoryBudget(clock=lambda: now[0])
    plan = window_plan(120)
    granted_at = []
    while now[0] < 5300:  # five minutes of a client that asks every 50 ms
        if await budget.take("k", plan, 1) == 0.0:
            granted_at.append(now[0])
        now[0] += 0.05
    for start in granted_at:
        assert sum(1 for t in granted_at if start <= t < start + 60) <= 120


async def test_adaptive_limit_halves_on_429s_and_recovers_slowly() -> None:
    clock = [0.0]
    limit = AdaptiveLimit(16, clock=lambda: clock[0])
    limit.on_rate_limited()
    limit.on_rate_limited()  # same second: one overload, one halving
    assert limit.limit == 8
    clock[0] = 2.0
    limit.on_rate_limited()
    assert limit.limit == 4
    for _ in range(4):
        limit.on_success()
    assert 4.9 < limit.limit < 5.1  # about +1 per window of `limit` successes
    for _ in range(10_000):
        limit.on_success()
    assert limit.limit == 16
    fixed = AdaptiveLimit(16, adaptive=False)
    fixed.on_rate_limited()
    assert fixed.limit == 16


async def test_adaptive_limit_hands_freed_slots_to_waiters_in_order_and_never_exceeds_the_limit() -> None:
    limit = AdaptiveLimit(2)
    await limit.acquire()
    await limit.acquire()
    order: list[int] = []

    async def wait(n: int) -> None:
        await limit.acquire()
        order.append(n)

    waiters = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert order == [] and limit.in_flight == 2
    limit.release()
    newcomer = asyncio.create_task(wait(99))
    await asyncio.sleep(0)
    assert order == [0] and limit.in_flight == 2  # the freed slot went to the first waiter, not the newcomer
    limit.release()
    limit.release()
    await asyncio.sleep(0)
    assert order == [0, 1, 2] and limit.in_flight == 2
    for _ in range(2):
        limit.release()
    await asyncio.wait_for(newcomer, timeout=5)
    assert order == [0, 1, 2, 99] and limit.in_flight == 1
    await asyncio.gather(*waiters)


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    limit = AdaptiveLimit(1)
    await limit.acquire()
    queued = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    queued.cancel()  # cancelled while waiting: leaves the queue
    with pytest.raises(asyncio.CancelledError):
        await queued
    handed = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    limit.release()  # the slot is handed to `handed` ...
    handed.cancel()  # ... which is cancelled before it runs: the slot comes back
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert limit.in_flight == 0
    await asyncio.wait_for(limit.acquire(), timeout=5)
    assert limit.in_flight == 1


class Scripted:
    """Fails as scripted, then answers; counts calls and the most concurrent calls."""

    def __init__(self, *failures: Exception, latency: float = 0.0) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.latency = latency

    async def generate(self, request: GenerationRequest) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            if self.failures:
                raise self.failures.pop(0)
            return Completion(text="ok", prompt_tokens=3, completion_tokens=1)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


def _paced(adapter: Scripted, sleeps: list[float], **limits: object) -> PacedModel:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return PacedModel(adapter, Limits(**limits), budget_key="k", budget=MemoryBudget(), sleep=sleep, rng=random.Random(0))


async def test_retries_honour_retry_after_and_back_off_with_jitter() -> None:
    sleeps: list[float] = []
    adapter = Scripted(RateLimited("429", retry_after_s=2.0), ModelUnavailable("503"), ModelUnavailable("timeout"))
    completion = await _paced(adapter, sleeps).generate(REQUEST)
    assert completion.text == "ok" and adapter.calls == 4
    assert 2.0 <= sleeps[0] <= 2.3  # Retry-After, plus a little jitter
    assert 0 <= sleeps[1] <= 1.0 and 0 <= sleeps[2] <= 2.0  # full jitter under 0.5 * 2**attempt


async def test_after_the_retry_budget_the_error_is_raised() -> None:
    sleeps: list[float] = []
    adapter = Scripted(*(ModelUnavailable("503") for _ in range(10)))
    with pytest.raises(ModelUnavailable):
        await _paced(adapter, sleeps, max_retries=2).generate(REQUEST)
    assert adapter.calls == 3 and len(sleeps) == 2


async def test_permanent_errors_are_not_retried() -> None:
    adapter = Scripted(ModelRequestRejected("400 bad request"))
    with pytest.raises(ModelRequestRejected):
        await _paced(adapter, []).generate(REQUEST)
    assert adapter.calls == 1


async def test_concurrency_limit_holds_across_callers() -> None:
    adapter = Scripted(latency=0.01)
    paced = PacedModel(adapter, Limits(concurrency=3), budget_key="k", budget=MemoryBudget())
    await asyncio.gather(*(paced.generate(REQUEST) for _ in range(30)))
    assert adapter.calls == 30 and adapter.most_in_flight == 3


async def test_requests_wait_for_the_next_window_when_the_budget_is_spent() -> None:
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:  # time passes only while the model waits
        sleeps.append(seconds)
        now[0] += seconds

    adapter = Scripted()
    paced = PacedModel(
        adapter, Limits(requests_per_minute=60), budget_key="k", budget=MemoryBudget(clock=lambda: now[0]), sleep=sleep
    )
    plan = window_plan(60)
    for _ in range(plan.per_window * 3):
        await paced.generate(REQUEST)
    assert adapter.calls == plan.per_window * 3
    assert len(sleeps) == 2 and all(s <= plan.window_s + 0.06 for s in sleeps)  # to the next window, no longer
    assert 2 * plan.window_s <= now[0] < 2 * plan.window_s + 0.2
