"""Failure logging stays quiet and bounded: an outage is a few lines, whatever its length."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from shared.logs import OutageLog, QuietRepeats, configure_service_logging


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # what a real handler does: fills in the message and the traceback text
        self.records.append(record)

    @property
    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    yield handler
    handler.close()


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"tests.logs.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def test_an_outage_of_a_thousand_failures_is_one_line_plus_reminders_plus_the_recovery(capture: Capture) -> None:
    clock = Clock()
    outage = OutageLog(_logger("outage", capture), what="kafka", reminder_s=60.0, clock=clock)
    assert not outage.down
    outage.recovered()  # not in an outage: nothing to say
    assert capture.lines == []

    for _ in range(1000):  # 1000 failures over 125 s: reminders due at 60 s and 120 s
        outage.failed("no answer from the brokers")
        clock.now += 0.125
    assert outage.down
    outage.recovered()
    assert not outage.down

    assert capture.lines == [
        "kafka unavailable: no answer from the brokers",
        "kafka still unavailable after 60s (480 failures since): no answer from the brokers",
        "kafka still unavailable after 120s (480 failures since): no answer from the brokers",
        "kafka available again after 125s (1000 failures)",
    ]
    assert all(r.levelno == logging.WARNING for r in capture.records)


def test_a_new_outage_after_a_recovery_is_logged_afresh(capture: Capture) -> None:
    clock = Clock()
    outage = OutageLog(_logger("again", capture), what="MongoDB 50% pool", clock=clock)
    outage.failed("timeout")
    outage.recovered()
    clock.now += 5
    outage.failed("refused")
    outage.failed("refused")
    assert capture.lines == [
        "MongoDB 50% pool unavailable: timeout",
        "MongoDB 50% pool available again after 0s (1 failures)",
        "MongoDB 50% pool unavailable: refused",
    ]


def test_quiet_repeats_passes_each_kind_once_then_summarises_the_repeats(capture: Capture) -> None:
    clock = Clock()
    capture.addFilter(QuietRepeats(reminder_s=60.0, clock=clock))
    log = _logger("quiet", capture)
    other = _logger("quiet.other", capture)

    for node in range(400):
        log.error("Unable connect to node with id %s: %s", node % 3, "refused")
        log.warning("retrying in %.1fs", 0.5)
        other.error("Unable connect to node with id %s: %s", 1, "refused")  # another logger: its own kind
        clock.now += 0.125  # 50 s in all
    assert capture.lines == [
        "Unable connect to node with id 0: refused",
        "retrying in 0.5s",
        "Unable connect to node with id 1: refused",
    ]

    clock.now += 10  # 60 s since each passed: the next one passes and says what was dropped
    log.error("Unable connect to node with id %s: %s", 2, "refused")
    log.error("Unable connect to node with id %s: %s", 2, "refused")  # and the count starts again
    clock.now += 60
    log.error("Unable connect to node with id %s: %s", 0, "refused")
    assert capture.lines[3:] == [
        "Unable connect to node with id 2: refused [399 similar lines suppressed in the last 60s]",
        "Unable connect to node with id 0: refused [1 similar lines suppressed in the last 60s]",
    ]


def test_quiet_repeats_keeps_the_first_traceback_and_drops_it_from_summaries(capture: Capture) -> None:
    clock = Clock()
    capture.addFilter(QuietRepeats(reminder_s=60.0, clock=clock))
    log = _logger("tracebacks", capture)

    def fail() -> None:
        try:
            raise ConnectionError("broker down")
        except ConnectionError:
            log.exception("handler failed on a message from %s", "benchmarks.work")

    for _ in range(100):
        fail()
    clock.now += 61
    fail()
    first, summary = capture.records
    assert first.exc_info is not None and "ConnectionError: broker down" in (first.exc_text or "")
    assert summary.exc_info is None and summary.exc_text is None
    assert summary.getMessage() == (
        "handler failed on a message from benchmarks.work [99 similar lines suppressed in the last 61s]"
    )


def test_quiet_repeats_counts_eagerly_formatted_lines_that_differ_only_in_numbers_as_alike(capture: Capture) -> None:
    clock = Clock()
    capture.addFilter(QuietRepeats(clock=clock))
    log = _logger("eager", capture)
    for offset in range(10):
        log.error(f"KafkaConnectionError: offset {offset} on 127.0.0.1:9092")
    log.error("StoreUnavailable: MongoDB unreachable")
    assert capture.lines == ["KafkaConnectionError: offset 0 on 127.0.0.1:9092", "StoreUnavailable: MongoDB unreachable"]


def test_records_below_the_level_always_pass_untouched(capture: Capture) -> None:
    clock = Clock()
    capture.addFilter(QuietRepeats(clock=clock))
    log = _logger("info", capture)
    for _ in range(5):
        log.info("Processed %s", "m")
        log.debug("polling")
    assert capture.lines == ["Processed m", "polling"] * 5
    assert all(r.msg in ("Processed %s", "polling") for r in capture.records)


def test_one_filter_on_several_handlers_gives_a_record_the_same_verdict_at_each(capture: Capture) -> None:
    clock = Clock()
    second = Capture()
    quiet = QuietRepeats(clock=clock)
    capture.addFilter(quiet)
    second.addFilter(quiet)
    log = _logger("two", capture)
    log.addHandler(second)
    for _ in range(3):
        log.warning("disk %s", "full")
    clock.now += 61
    log.warning("disk %s", "full")
    expected = ["disk full", "disk full [2 similar lines suppressed in the last 61s]"]
    assert capture.lines == expected and second.lines == expected
    second.close()


def test_quiet_repeats_remembers_a_bounded_number_of_kinds(capture: Capture) -> None:
    clock = Clock()
    capture.addFilter(QuietRepeats(clock=clock, max_keys=2))
    log = _logger("bounded", capture)
    log.error("a")
    log.error("b")
    log.error("c")  # evicts "a", the least recently seen
    log.error("b")  # remembered: dropped
    log.error("a")  # forgotten: passes as new
    assert capture.lines == ["a", "b", "c", "a"]


def test_configure_service_logging_filters_the_root_handlers_and_non_propagating_loggers() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    library = logging.getLogger("tests.logs.library")  # like FastStream's: own handler, no propagation
    own = logging.StreamHandler(sys.stderr)
    library.addHandler(own)
    library.propagate = False
    root.handlers[:] = []
    try:
        configure_service_logging("runner", reminder_s=30.0)
        configure_service_logging("runner", reminder_s=30.0)  # twice: still one filter per handler
        assert root.level == logging.INFO and len(root.handlers) == 1
        assert "runner %(levelname)s %(name)s: %(message)s" in root.handlers[0].formatter._fmt  # type: ignore[union-attr]
        for handler in (root.handlers[0], own):
            assert sum(isinstance(f, QuietRepeats) for f in handler.filters) == 1
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        library.removeHandler(own)
        own.close()
