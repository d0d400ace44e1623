"""What every MongoDB user here shares: unreachable servers become StoreUnavailable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from shared.errors import StoreUnavailable

__all__ = ["translated_errors"]


@contextmanager
def translated_errors(purpose: str = "") -> Iterator[None]:
    """Unreachable servers become StoreUnavailable (retryable); anything else stays a bug.
    `purpose` says what the store was needed for, e.g. "for the response cache"."""
    try:
        yield
    except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
        raise StoreUnavailable(f"MongoDB unreachable{' ' + purpose if purpose else ''}: {exc}") from exc
