"""Reading JSON lines, once for every file format of the project (datasets, score pairs,
per-sample score files): blank lines skipped, each error naming the file, the line and why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shared.errors import InvalidInput

__all__ = ["json_objects", "json_type"]


def json_objects(
    text: str, *, location: str, unit: str = "line", error: type[InvalidInput] = InvalidInput
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(number, "location line N", object) for each non-blank line; `error` for bad JSON or a
    line that is not an object."""
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        where = f"{location} {unit} {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: not valid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise error(f"{where}: expected a JSON object, got {json_type(record)}")
        yield number, where, record


def _lines(text: str) -> Iterator[str]:
    """The text's lines, one at a time (a large file's text is not held twice). Split on line
    feeds only: str.splitlines() also splits inside JSON strings holding U+2028 and friends."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def json_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), "null" if value is None else type(value).__name__)
