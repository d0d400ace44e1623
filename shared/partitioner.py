"""Which partition a message goes to: a benchmark's shards spread evenly, everything else by key.

Kafka's default partitioner hashes the whole key, so the shards of one benchmark land on the
partitions at random: 150 shards over 6 partitions came out 30/20/..., and with two runners (or
scorers) of three partitions each one got 81 shards and the other 69, so the pair finished when
the busier one did. Keys of the form `<prefix>:<shard number>` (work items and model outputs,
`tenant/benchmark:model:task:shard`) go round-robin instead: shard k of a prefix to partition
(hash(prefix) + k) mod n, so every partition gets the same share of every benchmark, and two
benchmarks start on different partitions. Any other key (a benchmark id: the aggregator needs
all of a benchmark's scores on one partition) is hashed as Kafka's own clients do (murmur2).
No stage relies on the order of shards, so nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiokafka.partitioner import murmur2

__all__ = ["ShardPartitioner"]

_SHARD_KEY = re.compile(rb"^(.+):(\d{1,9})$", re.DOTALL)


class ShardPartitioner:
    """An aiokafka producer partitioner: `partitioner(key, all_partitions, available)`."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:  # we always send a key; keep the default's behaviour anyway
            return (list(available) or list(all_partitions))[0]
        found = _SHARD_KEY.match(key)
        if found is None:
            return all_partitions[(_hash(key) & 0x7FFFFFFF) % len(all_partitions)]
        start = _hash(found.group(1)) & 0x7FFFFFFF
        return all_partitions[(start + int(found.group(2))) % len(all_partitions)]


def _hash(data: bytes) -> int:
    return int(murmur2(data))
