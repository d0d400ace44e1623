"""Readiness from a background health check, so a probe never waits on a store that hangs.

A probe that ran its checks inline blocked for as long as the slowest backing service took to
time out (19-25 s during a database pause), and Kubernetes' probe timed out before it said why.
Here the checks run every `interval_s` in a task of their own, each bounded by `timeout_s`;
/readyz answers at once from the latest round. Pure asyncio: no broker or database imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

__all__ = ["Check", "HealthMonitor", "DEFAULT_TIMEOUT_S", "REASON_CHARS"]

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
"""A health check: returns when the dependency answers, raises (with the reason) when it does not."""

DEFAULT_TIMEOUT_S = 2.0
"""A check slower than this (or than the interval, when shorter) counts as failed."""
REASON_CHARS = 300
"""A failure's reason is cut to this many characters (a driver's error can carry pages of topology)."""

_STARTING = {"startup": "first health check still running"}


class HealthMonitor:
    """Runs named checks concurrently every `interval_s` and keeps the latest verdict."""

    def __init__(
        self,
        checks: Sequence[tuple[str, Check]],
        *,
        interval_s: float,
        timeout_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        timeout_s = min(interval_s, DEFAULT_TIMEOUT_S) if timeout_s is None else timeout_s
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        names = [name for name, _ in checks]
        if len(set(names)) != len(names):
            raise ValueError(f"check names must be distinct: {names}")
        self._checks = tuple(checks)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._sleep = sleep
        self._failures: dict[str, str] | None = None  # None until the first round completes
        self._task: asyncio.Task[None] | None = None

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    def snapshot(self) -> tuple[bool, dict[str, str]]:
        """(ready, failures by check name) from the latest completed round; never waits."""
        if self._failures is None:
            return False, dict(_STARTING)
        return not self._failures, dict(self._failures)

    async def check(self) -> dict[str, str]:
        """Run one round now (every check concurrently), store and return its failures."""
        reasons = await asyncio.gather(*(self._one(check) for _, check in self._checks))
        failures = {name: reason for (name, _), reason in zip(self._checks, reasons, strict=True) if reason is not None}
        self._note_change(failures)
        self._failures = failures
        return dict(failures)

    async def run(self) -> None:
        """Check, sleep `interval_s`, repeat, until cancelled."""
        while True:
            await self.check()
            await self._sleep(self._interval_s)

    def start(self) -> None:
        """Start `run()` as a background task of the running event loop (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="health-monitor")

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end; harmless when not started."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _one(self, check: Check) -> str | None:
        # asyncio.timeout (rather than wait_for) tells our deadline apart from a TimeoutError the
        # check raised itself, whose own message is the better reason
        deadline = asyncio.timeout(self._timeout_s)
        try:
            async with deadline:
                await check()
        except TimeoutError as exc:
            if deadline.expired():
                return f"no answer within {self._timeout_s:g}s"
            return _reason(exc)
        except Exception as exc:  # noqa: BLE001 - a check reports any failure; the monitor never raises
            return _reason(exc)
        return None

    def _note_change(self, failures: dict[str, str]) -> None:
        # one line when readiness flips, not one per round; a failing first round is the usual
        # start-up (the broker still connecting) and says nothing
        if failures and self._failures == {}:
            log.warning("not ready: %s", "; ".join(f"{name}: {reason}" for name, reason in failures.items()))
        elif not failures and self._failures != {}:
            log.info("ready" if self._failures is None else "ready again")


def _reason(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:REASON_CHARS]
