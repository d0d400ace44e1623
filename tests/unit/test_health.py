"""HealthMonitor: /readyz answers at once from the latest background round, whatever a check does."""

from __future__ import annotations

import asyncio

import pytest

from shared.health import HealthMonitor

DEADLINE_S = 10.0
"""Every wait in these tests ends by then: a bug fails the test instead of hanging it."""


class Pacer:
    """An injected sleep: each round ends by handing control to the test, which starts the next."""

    def __init__(self) -> None:
        self.rounds_done: asyncio.Queue[float] = asyncio.Queue()
        self._go = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.rounds_done.put_nowait(seconds)
        await self._go.wait()
        self._go.clear()

    async def round_done(self) -> float:
        return await asyncio.wait_for(self.rounds_done.get(), DEADLINE_S)

    def next_round(self) -> None:
        self._go.set()


class Dependency:
    """A check whose behaviour the test switches: "ok", "fail" or "hang" (until cancelled)."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.entered = asyncio.Event()

    async def __call__(self) -> None:
        self.entered.set()
        if self.mode == "fail":
            raise ConnectionError("connection refused " + "x" * 1000)
        if self.mode == "hang":
            await asyncio.Event().wait()


async def fine() -> None:
    return None


async def broken() -> None:
    raise RuntimeError("disk full")


async def hangs() -> None:
    await asyncio.Event().wait()


async def test_before_the_first_round_it_is_not_ready_and_says_why() -> None:
    monitor = HealthMonitor([("db", fine)], interval_s=2.0)
    assert monitor.snapshot() == (False, {"startup": "first health check still running"})


async def test_a_round_reports_each_failing_check_by_name_and_a_hang_as_timed_out() -> None:
    monitor = HealthMonitor([("kafka", fine), ("mongodb", hangs), ("disk", broken)], interval_s=1.0, timeout_s=0.05)
    failures = await asyncio.wait_for(monitor.check(), DEADLINE_S)
    assert failures == {"mongodb": "no answer within 0.05s", "disk": "disk full"}
    assert monitor.snapshot() == (False, failures)


async def test_reasons_are_cut_and_never_empty() -> None:
    async def silent() -> None:
        raise ValueError()

    monitor = HealthMonitor([("long", Dependency("fail")), ("silent", silent)], interval_s=1.0)
    failures = await asyncio.wait_for(monitor.check(), DEADLINE_S)
    assert len(failures["long"]) == 300 and failures["long"].startswith("connection refused")
    assert failures["silent"] == "ValueError"


async def test_a_timeout_raised_by_the_check_itself_keeps_its_own_reason() -> None:
    async def own_timeout() -> None:
        raise TimeoutError("server selection timed out")

    monitor = HealthMonitor([("db", own_timeout)], interval_s=1.0, timeout_s=5.0)
    assert await asyncio.wait_for(monitor.check(), DEADLINE_S) == {"db": "server selection timed out"}


async def test_snapshot_answers_at_once_while_a_check_hangs_then_reports_it_and_the_recovery() -> None:
    pacer = Pacer()
    db = Dependency("ok")
    monitor = HealthMonitor([("kafka", fine), ("mongodb", db)], interval_s=2.0, timeout_s=0.2, sleep=pacer.sleep)
    monitor.start()
    try:
        assert await pacer.round_done() == 2.0  # the monitor sleeps its interval between rounds
        assert monitor.snapshot() == (True, {})

        db.mode, db.entered = "hang", asyncio.Event()
        pacer.next_round()
        await asyncio.wait_for(db.entered.wait(), DEADLINE_S)
        # the check hangs right now; the snapshot is the last completed round, with no waiting
        # (snapshot() is not a coroutine: it cannot block the event loop)
        assert monitor.snapshot() == (True, {})

        await pacer.round_done()
        assert monitor.snapshot() == (False, {"mongodb": "no answer within 0.2s"})

        db.mode = "ok"
        pacer.next_round()
        await pacer.round_done()
        assert monitor.snapshot() == (True, {})
    finally:
        await asyncio.wait_for(monitor.stop(), DEADLINE_S)


async def test_checks_run_concurrently_so_one_hang_does_not_delay_the_others() -> None:
    started: list[str] = []
    everyone_in = asyncio.Event()

    def check(name: str):
        async def run() -> None:
            started.append(name)
            if len(started) == 3:
                everyone_in.set()
            await asyncio.Event().wait()

        return run

    monitor = HealthMonitor([(n, check(n)) for n in ("a", "b", "c")], interval_s=60.0, timeout_s=30.0)
    round_ = asyncio.create_task(monitor.check())
    try:
        await asyncio.wait_for(everyone_in.wait(), DEADLINE_S)  # all three entered while each hangs
    finally:
        round_.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(round_, DEADLINE_S)


async def test_stop_ends_the_background_task_and_is_harmless_twice() -> None:
    pacer = Pacer()
    monitor = HealthMonitor([("db", hangs)], interval_s=1.0, timeout_s=30.0, sleep=pacer.sleep)
    await monitor.stop()  # never started
    monitor.start()
    await asyncio.sleep(0)  # the round is under way (its check hangs)
    await asyncio.wait_for(monitor.stop(), DEADLINE_S)
    await monitor.stop()
    assert monitor.snapshot()[0] is False


def test_settings_it_cannot_work_with_are_refused() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        HealthMonitor([], interval_s=0)
    with pytest.raises(ValueError, match="timeout_s"):
        HealthMonitor([], interval_s=1.0, timeout_s=-1)
    with pytest.raises(ValueError, match="distinct"):
        HealthMonitor([("db", fine), ("db", fine)], interval_s=1.0)
    assert HealthMonitor([], interval_s=0.5).timeout_s == 0.5
    assert HealthMonitor([], interval_s=30.0).timeout_s == 2.0


async def test_kafka_check_turns_a_false_ping_into_a_failure() -> None:
    from shared.service import kafka_check

    class Broker:
        def __init__(self, answers: bool) -> None:
            self.answers = answers
            self.timeouts: list[float] = []

        async def ping(self, timeout: float) -> bool:
            self.timeouts.append(timeout)
            return self.answers

    down, up = Broker(False), Broker(True)
    monitor = HealthMonitor(
        [("kafka", kafka_check(down, timeout_s=1.5)), ("kafka2", kafka_check(up, timeout_s=1.5))],  # type: ignore[arg-type]
        interval_s=2.0,
    )
    assert await asyncio.wait_for(monitor.check(), DEADLINE_S) == {"kafka": "no answer from the brokers"}
    assert down.timeouts == up.timeouts == [1.5]
