"""Which job runs next when many wait: fair between tenants and between one tenant's benchmarks.

The runner takes many shards from Kafka and runs a bounded number at once (shared/
parallel_consumer.py); this queue decides the order. Three rules, in this order:

1. A job whose lane is full waits without blocking anyone. A lane is what limits a job's
   parallelism (the runner's lane is a tenant's model config): starting more shards of a model
   than its concurrency can serve would only hold a slot.
2. A higher priority class goes first (0 is the highest: e.g. scheduled and CI-gate runs above
   ad-hoc ones), among the jobs that can start.
3. Within a class, weighted fair share between tenants, then between a tenant's benchmarks:
   each start charges the tenant `cost / weight` of virtual time and its benchmark `cost`, and
   the least charged goes next (stride scheduling). A tenant or benchmark that becomes active
   starts at the least charge among the active ones, so idling banks no credit to burst with.

Pure: no I/O, no clock; O(flows) per pick, where a flow is one benchmark's jobs of one lane.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["FairQueue", "Job", "Shape"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Shape:
    """Where a job goes in the queue."""

    tenant: str
    benchmark: str
    lane: Hashable
    lane_limit: int = 1
    """Jobs of this lane that may run at once."""
    priority: int = 1
    """0 runs before 1, and so on."""
    cost: float = 1.0
    """What a start charges to fair share (the runner: the shard's samples)."""


@dataclass(eq=False, slots=True)
class Job(Generic[T]):
    payload: T
    shape: Shape


@dataclass(slots=True)
class _Flow(Generic[T]):
    tenant: str
    benchmark: str
    lane: Hashable
    jobs: deque[Job[T]] = field(default_factory=deque)


class FairQueue(Generic[T]):
    def __init__(self, weights: Mapping[str, float] | None = None, *, default_weight: float = 1.0) -> None:
        self._weights = dict(weights or {})
        self._default_weight = default_weight
        self._flows: dict[tuple[str, str, Hashable], _Flow[T]] = {}
        self._running: dict[Hashable, int] = {}
        """Lane -> jobs of it started and not yet done."""
        self._tenant_charge: dict[str, float] = {}
        self._benchmark_charge: dict[tuple[str, str], float] = {}
        self._active: dict[tuple[str, str], int] = {}
        """(tenant, benchmark) -> its jobs queued or running; charges are kept only while active."""
        self._queued = 0

    def __len__(self) -> int:
        """Jobs waiting (not started)."""
        return self._queued

    def running(self, lane: Hashable) -> int:
        return self._running.get(lane, 0)

    def push(self, job: Job[T]) -> None:
        benchmark = (job.shape.tenant, job.shape.benchmark)
        if benchmark not in self._active:
            self._activate(job.shape.tenant, benchmark)
        self._active[benchmark] = self._active.get(benchmark, 0) + 1
        flow_key = (job.shape.tenant, job.shape.benchmark, job.shape.lane)
        flow = self._flows.get(flow_key)
        if flow is None:
            flow = self._flows[flow_key] = _Flow(job.shape.tenant, job.shape.benchmark, job.shape.lane)
        flow.jobs.append(job)
        self._queued += 1

    def pop(self) -> Job[T] | None:
        """The next job to start (its lane has room), now counted as running; None if none can start."""
        best: _Flow[T] | None = None
        best_rank: tuple[int, float, float] | None = None
        for flow in self._flows.values():
            head = flow.jobs[0]
            if self._running.get(flow.lane, 0) >= head.shape.lane_limit:
                continue
            rank = (head.shape.priority, self._tenant_charge[flow.tenant], self._benchmark_charge[(flow.tenant, flow.benchmark)])
            if best_rank is None or rank < best_rank:  # ties: the flow queued first (dicts keep order)
                best, best_rank = flow, rank
        if best is None:
            return None
        job = best.jobs.popleft()
        if not best.jobs:
            del self._flows[(best.tenant, best.benchmark, best.lane)]
        self._queued -= 1
        self._running[job.shape.lane] = self._running.get(job.shape.lane, 0) + 1
        self._tenant_charge[job.shape.tenant] += job.shape.cost / self._weights.get(job.shape.tenant, self._default_weight)
        self._benchmark_charge[(job.shape.tenant, job.shape.benchmark)] += job.shape.cost
        return job

    def done(self, job: Job[T]) -> None:
        """A job `pop` returned finished (or was abandoned): its lane has room again."""
        left = self._running.get(job.shape.lane, 0) - 1
        if left > 0:
            self._running[job.shape.lane] = left
        else:
            self._running.pop(job.shape.lane, None)
        self._release(job)

    def remove(self, matches: Callable[[Job[T]], bool]) -> list[Job[T]]:
        """Take out the waiting jobs `matches` says (e.g. those of partitions no longer ours)."""
        removed: list[Job[T]] = []
        for key, flow in list(self._flows.items()):
            kept = deque(job for job in flow.jobs if not matches(job))
            removed.extend(job for job in flow.jobs if matches(job))
            if kept:
                flow.jobs = kept
            else:
                del self._flows[key]
        self._queued -= len(removed)
        for job in removed:
            self._release(job)
        return removed

    def waiting(self) -> Iterator[Job[T]]:
        for flow in self._flows.values():
            yield from flow.jobs

    def _activate(self, tenant: str, benchmark: tuple[str, str]) -> None:
        if tenant not in self._tenant_charge:
            others = [charge for name, charge in self._tenant_charge.items() if name != tenant]
            self._tenant_charge[tenant] = min(others, default=0.0)
        siblings = [charge for (owner, _), charge in self._benchmark_charge.items() if owner == tenant]
        self._benchmark_charge[benchmark] = min(siblings, default=0.0)

    def _release(self, job: Job[T]) -> None:
        benchmark = (job.shape.tenant, job.shape.benchmark)
        left = self._active.get(benchmark, 0) - 1
        if left > 0:
            self._active[benchmark] = left
            return
        self._active.pop(benchmark, None)
        self._benchmark_charge.pop(benchmark, None)
        if not any(owner == job.shape.tenant for owner, _ in self._active):
            self._tenant_charge.pop(job.shape.tenant, None)
