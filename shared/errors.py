"""The project's one exception tree.

    BenchmarkError
    ├── InvalidInput            bad spec, dataset or request: the user must fix it (permanent)
    │   ├── SpecError           a benchmark spec field is missing, of the wrong type or unknown
    │   ├── ModelConfigError    a model cannot be called as configured (e.g. its key env var is unset)
    │   ├── DatasetError        a dataset is unreadable, empty, or a record lacks a field
    │   └── UnknownMetric       a metric name not in the registry
    ├── ModelError              a model under test failed to answer one request
    │   ├── ModelUnavailable    connection refused, timeout, 5xx        (retryable)
    │   ├── RateLimited         429 from the provider                   (retryable)
    │   ├── ModelRequestRejected 4xx other than 429: retrying is futile (permanent)
    │   └── ModelResponseInvalid a 200 without an answer (no choices, wrong shape) (permanent)
    ├── MessageTooLarge         an event over the broker's message limit (permanent)
    ├── OverQuota               a tenant asked for more than its quota (429; later, maybe)
    └── InfrastructureError     our own servers are unreachable         (retryable)
        ├── StoreUnavailable    MongoDB did not answer
        └── BrokerUnavailable   Kafka did not take a message

Retryability is a property of the class, decided here and nowhere else. Foreign exceptions
(httpx, pydantic, sqlite3, ...) are translated into these once, at the adapter boundary.
"""

from __future__ import annotations

__all__ = [
    "BenchmarkError",
    "InvalidInput",
    "SpecError",
    "DatasetError",
    "UnknownMetric",
    "ModelError",
    "ModelUnavailable",
    "RateLimited",
    "ModelRequestRejected",
    "ModelResponseInvalid",
    "ModelConfigError",
    "MessageTooLarge",
    "OverQuota",
    "InfrastructureError",
    "StoreUnavailable",
    "BrokerUnavailable",
]


class BenchmarkError(Exception):
    retryable: bool = False


class InvalidInput(BenchmarkError):
    """Input the user must fix. The message names where (file, field) and why."""


class SpecError(InvalidInput):
    pass


class DatasetError(InvalidInput):
    pass


class UnknownMetric(InvalidInput):
    pass


class ModelConfigError(InvalidInput):
    pass


class ModelError(BenchmarkError):
    """One request to a model under test failed; recorded per sample, never fatal to a run."""


class ModelUnavailable(ModelError):
    retryable = True


class RateLimited(ModelError):
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelRequestRejected(ModelError):
    pass


class ModelResponseInvalid(ModelError):
    pass


class MessageTooLarge(BenchmarkError):
    """An event larger than any message the broker takes: publishing it again can never work."""


class OverQuota(BenchmarkError):
    """A tenant asked for more of the shared service than its quota (BENCH_QUOTAS) allows."""

    def __init__(self, quota: str, message: str, retry_after_s: int | None) -> None:
        super().__init__(f"over the quota {quota}: {message}")
        self.quota = quota
        """The quota's name as BENCH_QUOTAS spells it (benchmarksInFlight, evaluationsPerDay, largestBenchmark)."""
        self.retry_after_s = retry_after_s
        """When a retry may succeed; None when it never will (the benchmark itself is too large)."""


class InfrastructureError(BenchmarkError):
    """A server of ours is unreachable: wait and try again; never drop the message."""

    retryable = True


class StoreUnavailable(InfrastructureError):
    pass


class BrokerUnavailable(InfrastructureError):
    pass
