"""What every MongoDB user here shares: unreachable servers become StoreUnavailable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from shared.errors import StoreUnavailable

__all__ = ["translated_errors"]


@contextmanager
def translated_errors(purpose: str = "") -> Iterator[None]:
    """Unreachable or too slow servers become StoreUnavailable (retryable); anything else stays a
    bug. `purpose` says what the store was needed for, e.g. "for the response cache"."""
    try:
        yield
    except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
        raise StoreUnavailable(f"MongoDB unreachable{' ' + purpose if purpose else ''}: {exc}") from exc
    except PyMongoError as exc:
        if not exc.timeout:  # an operation past BENCH_STORE_TIMEOUT_S: the server may be paused
            raise
        raise StoreUnavailable(f"MongoDB did not answer in time{' ' + purpose if purpose else ''}: {exc}") from exc
