"""Which offset of a partition may be committed when its records finish out of order.

A consumer that runs many records of one partition at once (shared/parallel_consumer.py) may
finish offset 7 before offset 5. Committing 8 then would lose 5 and 6 if the process died, so the
commit point is the lowest offset still unfinished: everything below it is done. This is how
Confluent's Parallel Consumer commits (the contiguous prefix); unlike it, we do not encode the
finished records past the prefix in the commit's metadata, so after a crash those are run again
(at least once: the aggregator stores scores idempotently, so nothing is counted twice).
"""

from __future__ import annotations

import heapq

__all__ = ["PartitionOffsets"]


class PartitionOffsets:
    """Offsets of one partition taken from Kafka, and which of them are finished."""

    def __init__(self) -> None:
        self._unfinished: set[int] = set()
        self._heap: list[int] = []
        """The unfinished offsets, lowest first (finished ones are dropped lazily)."""
        self._next: int | None = None
        """One past the highest offset taken."""
        self._committed: int | None = None

    def taken(self, offset: int) -> bool:
        """The consumer took the record at `offset`: True, or False when it had taken it before
        (a fetch that went back, e.g. after a reset): that record is running or done already."""
        if self._next is not None and offset < self._next:
            return False
        self._next = offset + 1
        self._unfinished.add(offset)
        heapq.heappush(self._heap, offset)
        return True

    def finished(self, offset: int) -> None:
        """The record at `offset` is done: its results are published, or it was dead-lettered."""
        self._unfinished.discard(offset)

    def commit_point(self) -> int | None:
        """The offset to commit (the next record to read after a restart): the lowest unfinished
        one, or one past the highest taken when all are finished. None before anything was taken."""
        while self._heap and self._heap[0] not in self._unfinished:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else self._next

    def to_commit(self) -> int | None:
        """The commit point when it moved since the last `committed()`; else None."""
        point = self.commit_point()
        return point if point is not None and point != self._committed else None

    def committed(self, offset: int) -> None:
        self._committed = offset

    @property
    def unfinished(self) -> int:
        return len(self._unfinished)
