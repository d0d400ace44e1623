"""Waiting for a condition in a test: always with a deadline, and a message saying what for.

A test that polls (a server noticing a disconnect, a benchmark completing, a consumer group
settling) waits with one of these instead of a bare ``while ...: sleep(...)``: on a busy
machine a poll may need far longer than usual, and when it never comes true the failure says
what was awaited instead of hanging or failing on an unrelated assertion further down.

- ``wait_for(what, check, timeout=..., interval=..., detail=...)``: sync; sleeps the thread.
- ``await wait_for_async(...)``: the same for async tests; ``check`` may be a coroutine
  function, and the event loop keeps running between tries.

Both return ``check()``'s first truthy result and raise ``AssertionError("timed out after
{timeout}s waiting for {what}; {detail()}")`` at the deadline. ``check`` is tried once more
after the deadline has passed, so a slow ``check`` never loses its last chance. ``timeout`` is a
hang guard: size it generously (seconds, not milliseconds), never as a speed assertion.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

__all__ = ["wait_for", "wait_for_async"]

T = TypeVar("T")


def _tries(timeout: float) -> Iterator[bool]:
    """One item per try: False while the deadline is ahead, then True once (the last try)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        yield False
    yield True


def _timed_out(what: str, timeout: float, detail: Callable[[], str] | None) -> AssertionError:
    more = f"; {detail()}" if detail is not None else ""
    return AssertionError(f"timed out after {timeout:g}s waiting for {what}{more}")


def wait_for(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.2,
    detail: Callable[[], str] | None = None,
) -> T:
    """`check()`'s first truthy result; an AssertionError naming `what` (and `detail()`) at the deadline."""
    for last in _tries(timeout):
        if result := check():
            return result
        if not last:
            time.sleep(interval)
    raise _timed_out(what, timeout, detail)


async def wait_for_async(
    what: str,
    check: Callable[[], T | None] | Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    interval: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> T:
    """`wait_for` for async tests: `check` may be async; the loop runs other tasks between tries."""
    for last in _tries(timeout):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if not last:
            await asyncio.sleep(interval)
    raise _timed_out(what, timeout, detail)
