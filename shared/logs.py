"""Quiet, bounded failure logging: an outage is a few lines, not hundreds a second.

During a Kafka outage the services logged ~400 lines a second (aiokafka's reconnects, FastStream's
per-message tracebacks, our own retries), burying the one line that said what broke. Two tools:

- `OutageLog`, for our own code that knows it is in an outage: one line when it starts, a
  reminder at most every `reminder_s`, one line when it ends.
- `QuietRepeats`, a logging filter for everyone else's lines (libraries included): the first
  line of a kind passes, repeats within `reminder_s` are counted and dropped, and the next one
  after that passes saying how many were dropped.

`configure_service_logging` sets up a service process with both in place.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["OutageLog", "QuietRepeats", "configure_service_logging"]

_DIGITS = re.compile(r"\d+")
_VERDICT = "_quiet_repeats_verdict"
"""Record attribute keeping a filter's decision: one record passes through every handler's filter."""


class OutageLog:
    """Logs an outage of `what` as a start line, reminders at most every `reminder_s`, and an end line."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        what: str,
        reminder_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._what = what.replace("%", "%%")  # part of the template (so QuietRepeats tells outages apart)
        self._reminder_s = reminder_s
        self._clock = clock
        self._since: float | None = None  # when the outage started; None while available
        self._last_line = 0.0
        self._failures = 0  # in this outage
        self._unreported = 0  # failures since the last line

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, reason: str) -> None:
        """One more failure: logged if it starts an outage or a reminder is due, counted otherwise."""
        now = self._clock()
        if self._since is None:
            self._since, self._last_line, self._failures, self._unreported = now, now, 1, 0
            self._logger.warning(f"{self._what} unavailable: %s", reason)
            return
        self._failures += 1
        self._unreported += 1
        if now - self._last_line >= self._reminder_s:
            self._logger.warning(
                f"{self._what} still unavailable after %.0fs (%d failures since): %s",
                now - self._since,
                self._unreported,
                reason,
            )
            self._last_line, self._unreported = now, 0

    def recovered(self) -> None:
        """It works again: one line if there was an outage, nothing otherwise."""
        if self._since is None:
            return
        self._logger.warning(
            f"{self._what} available again after %.0fs (%d failures)", self._clock() - self._since, self._failures
        )
        self._since, self._failures, self._unreported = None, 0, 0


class _Seen:
    __slots__ = ("last_passed", "suppressed")

    def __init__(self, last_passed: float) -> None:
        self.last_passed = last_passed
        self.suppressed = 0


class QuietRepeats(logging.Filter):
    """Drops repeats of a line within `reminder_s` of the last one let through, and says how many.

    Lines are alike when they come from the same logger at the same level with the same template
    (`record.msg` before its arguments are filled in; digits count as alike, so an eagerly
    formatted message with a different offset or port still matches). Records below `level`
    always pass. At most `max_keys` kinds are remembered (the least recently seen go first).
    Attach one instance to the handlers: a record judged once gets the same verdict at every handler.
    """

    def __init__(
        self,
        *,
        reminder_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        level: int = logging.WARNING,
        max_keys: int = 1000,
        key_chars: int = 300,
    ) -> None:
        super().__init__()
        self._reminder_s = reminder_s
        self._clock = clock
        self._level = level
        self._max_keys = max_keys
        self._key_chars = key_chars
        self._seen: OrderedDict[tuple[str, int, str], _Seen] = OrderedDict()
        self._lock = threading.Lock()  # pymongo and executors may log from other threads

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self._level:
            return True
        verdict: tuple[int, bool] | None = getattr(record, _VERDICT, None)
        if verdict is not None and verdict[0] == id(self):
            return verdict[1]
        passes = self._judge(record)
        setattr(record, _VERDICT, (id(self), passes))  # an id, not the filter: records may be pickled
        return passes

    def _judge(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, _DIGITS.sub("#", str(record.msg)[: self._key_chars]))
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = _Seen(now)
                if len(self._seen) > self._max_keys:
                    self._seen.popitem(last=False)
                return True
            self._seen.move_to_end(key)
            elapsed = now - seen.last_passed
            if elapsed < self._reminder_s:
                seen.suppressed += 1
                return False
            suppressed, seen.suppressed, seen.last_passed = seen.suppressed, 0, now
        if suppressed:
            # str(msg) is what getMessage formats; the suffix has no '%', so the arguments still fit
            record.msg = f"{record.msg} [{suppressed} similar lines suppressed in the last {elapsed:.0f}s]"
            # the first line of this kind showed the traceback; a summary need not repeat it
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def configure_service_logging(service: str, *, reminder_s: float) -> None:
    """Log INFO and up to stderr with the service's name, each kind of warning at most once per `reminder_s`.

    The filter goes on the root logger's handlers (every propagating logger: ours, aiokafka,
    uvicorn) and on the handlers of loggers that keep their own and do not propagate (FastStream's).
    """
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {service.replace('%', '%%')} %(levelname)s %(name)s: %(message)s"
    )
    quiet = QuietRepeats(reminder_s=reminder_s)
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, QuietRepeats) for f in handler.filters):
                handler.addFilter(quiet)
