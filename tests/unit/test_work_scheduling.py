"""The runner's work scheduling, pure parts: the commit point of out-of-order offsets
(shared/offsets.py) and the fair queue (shared/fair_queue.py, services/runner/scheduling.py)."""

from __future__ import annotations

import random
from collections import Counter

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from services.runner.scheduling import HIGH, NORMAL, shape_of
from shared.events import Sample, WorkItem
from shared.fair_queue import FairQueue, Job, Shape
from shared.offsets import PartitionOffsets
from shared.partitioner import ShardPartitioner
from shared.spec import ModelConfig, TaskSpec

# --- offsets ------------------------------------------------------------------------------------


def test_the_commit_point_stops_at_the_lowest_unfinished_offset() -> None:
    offsets = PartitionOffsets()
    assert offsets.commit_point() is None
    for offset in range(10, 15):
        offsets.taken(offset)
    assert offsets.commit_point() == 10
    offsets.finished(11)
    offsets.finished(13)
    assert offsets.commit_point() == 10  # 10 runs still: committing 14 would lose it on a crash
    offsets.finished(10)
    assert offsets.commit_point() == 12
    offsets.finished(12)
    offsets.finished(14)
    assert offsets.commit_point() == 15  # all done: the next record to read


def test_to_commit_says_only_when_the_point_moved() -> None:
    offsets = PartitionOffsets()
    offsets.taken(0)
    assert offsets.to_commit() == 0
    offsets.committed(0)
    assert offsets.to_commit() is None
    offsets.finished(0)
    assert offsets.to_commit() == 1


def test_an_offset_taken_again_is_not_tracked_twice() -> None:
    offsets = PartitionOffsets()
    assert offsets.taken(5) and offsets.taken(6)
    assert not offsets.taken(5)  # a fetch that went back: 5 runs already
    offsets.finished(5)
    offsets.finished(6)
    assert offsets.commit_point() == 7 and offsets.unfinished == 0


@given(st.integers(min_value=1, max_value=60), st.randoms(use_true_random=False))
def test_the_commit_point_never_passes_an_unfinished_offset(count: int, rng: random.Random) -> None:
    offsets = PartitionOffsets()
    for offset in range(count):
        offsets.taken(offset)
    unfinished = set(range(count))
    for offset in rng.sample(range(count), count):
        offsets.finished(offset)
        unfinished.discard(offset)
        point = offsets.commit_point()
        assert point is not None
        assert all(o >= point for o in unfinished)  # nothing unfinished below the point
        assert point == (min(unfinished) if unfinished else count)  # and it is as far as it can be


# --- the fair queue -----------------------------------------------------------------------------


def job(
    tenant: str, benchmark: str, *, lane: str | None = None, limit: int = 100, priority: int = 1, cost: float = 1
) -> Job[str]:
    return Job(f"{tenant}/{benchmark}", Shape(tenant, benchmark, lane or f"{tenant}:{benchmark}", limit, priority, cost))


def drain(queue: FairQueue[str], count: int) -> list[str]:
    started = []
    for _ in range(count):
        found = queue.pop()
        assert found is not None
        started.append(found.payload)
        queue.done(found)
    return started


def test_a_small_benchmark_queued_behind_a_big_one_starts_next() -> None:
    queue: FairQueue[str] = FairQueue()
    for _ in range(100):
        queue.push(job("a", "big"))
    assert drain(queue, 3) == ["a/big"] * 3
    queue.push(job("b", "small"))
    assert drain(queue, 1) == ["b/small"]  # not after the 97 shards ahead of it


def test_a_job_whose_lane_is_full_waits_without_blocking_others() -> None:
    queue: FairQueue[str] = FairQueue()
    for _ in range(5):
        queue.push(job("a", "slow", lane="slow-model", limit=2))
    queue.push(job("a", "quick", lane="fast-model", limit=2))
    started = [queue.pop() for _ in range(3)]
    assert sorted(found.payload for found in started if found) == ["a/quick", "a/slow", "a/slow"]
    assert queue.pop() is None  # slow-model holds two shards, its limit: the other three wait
    assert queue.running("slow-model") == 2 and len(queue) == 3
    first_slow = next(found for found in started if found and found.payload == "a/slow")
    queue.done(first_slow)
    again = queue.pop()
    assert again is not None and again.payload == "a/slow"


def test_tenants_share_by_weight() -> None:
    queue: FairQueue[str] = FairQueue({"gold": 3})
    for _ in range(400):
        queue.push(job("gold", "g"))
        queue.push(job("plain", "p"))
    started = drain(queue, 400)
    assert started.count("gold/g") == 300
    assert started.count("plain/p") == 100


def test_benchmarks_of_one_tenant_share_equally_by_samples() -> None:
    queue: FairQueue[str] = FairQueue()
    for _ in range(50):
        queue.push(job("a", "big-shards", cost=32))
    for _ in range(200):
        queue.push(job("a", "small-shards", cost=8))
    started = drain(queue, 100)
    samples = {name: started.count(name) * cost for name, cost in (("a/big-shards", 32), ("a/small-shards", 8))}
    assert abs(samples["a/big-shards"] - samples["a/small-shards"]) <= 32


def test_a_higher_priority_class_goes_first_among_the_jobs_that_can_start() -> None:
    queue: FairQueue[str] = FairQueue()
    for _ in range(3):
        queue.push(job("a", "adhoc", priority=NORMAL))
    queue.push(job("b", "scheduled", lane="busy", limit=1, priority=HIGH))
    queue.push(job("b", "scheduled", lane="busy", limit=1, priority=HIGH))
    assert drain(queue, 1) == ["b/scheduled"]
    held = queue.pop()
    assert held is not None and held.payload == "b/scheduled"
    # its lane is full now: ad-hoc work is not blocked by it
    following = queue.pop()
    assert following is not None and following.payload == "a/adhoc"


def test_an_idle_tenant_banks_no_credit() -> None:
    queue: FairQueue[str] = FairQueue()
    for _ in range(100):
        queue.push(job("a", "long"))
    drain(queue, 90)  # a ran alone for a while
    for _ in range(100):
        queue.push(job("b", "late"))
    started = drain(queue, 20)
    assert started.count("b/late") == 10  # an equal share from now on, not 90 starts to catch up


def test_removed_jobs_are_forgotten() -> None:
    queue: FairQueue[str] = FairQueue()
    for index in range(6):
        queue.push(job("a", f"b{index % 2}"))
    removed = queue.remove(lambda j: j.shape.benchmark == "b0")
    assert len(removed) == 3 and len(queue) == 3
    assert drain(queue, 3) == ["a/b1"] * 3
    assert queue.pop() is None


# --- the runner's policy ------------------------------------------------------------------------


def work_item(*, concurrency: int, samples: int, trigger: str = "api", tenant: str = "acme") -> WorkItem:
    return WorkItem.model_validate(
        {
            "tenant": tenant,
            "benchmarkId": "bm_1",
            "model": ModelConfig.model_validate(
                {"name": "m", "provider": "openai", "baseUrl": "http://m.example/v1", "limits": {"concurrency": concurrency}}
            ),
            "task": TaskSpec.model_validate({"name": "t", "type": "qa", "dataset": {"records": [{"q": "x", "a": "y"}]}}),
            "shard": 0,
            "samples": [Sample(id=str(i), inputs={"question": "q"}, references=["a"]) for i in range(samples)],
            "trigger": trigger,
        }
    )


def test_a_lane_gets_enough_shards_to_keep_its_model_busy() -> None:
    slow = shape_of(work_item(concurrency=4, samples=32), None, priority_triggers={"schedule"})
    wide = shape_of(work_item(concurrency=64, samples=32), None, priority_triggers={"schedule"})
    assert (slow.lane_limit, wide.lane_limit) == (2, 3)
    assert slow.cost == 32 and slow.priority == NORMAL and slow.tenant == "acme" and slow.benchmark == "bm_1"


def test_priority_follows_the_trigger() -> None:
    assert (
        shape_of(work_item(concurrency=4, samples=1, trigger="schedule"), None, priority_triggers={"schedule"}).priority == HIGH
    )
    assert shape_of(work_item(concurrency=4, samples=1, trigger="api"), None, priority_triggers={"schedule"}).priority == NORMAL


def test_an_unparsable_shard_goes_alone_and_first() -> None:
    shape = shape_of(None, "acme/bm_1:m:t:0", priority_triggers=())
    assert shape.priority == HIGH and shape.lane == ("unparsed", "acme/bm_1:m:t:0")


# --- partitions ---------------------------------------------------------------------------------


def test_a_benchmarks_shards_spread_evenly_over_the_partitions() -> None:
    partitioner = ShardPartitioner()
    partitions = list(range(6))
    for benchmark in ("acme/bm_1:gpt:qa", "acme/bm_2:gpt:qa", "other/bm_3:claude:summaries"):
        landed = Counter(partitioner(f"{benchmark}:{shard}".encode(), partitions, partitions) for shard in range(150))
        assert sorted(landed.values()) == [25] * 6, landed  # murmur2 of each key gave 81/69 between two runners


def test_other_keys_are_hashed_as_kafka_does() -> None:
    partitioner = ShardPartitioner()
    partitions = list(range(6))
    for key in (b"acme/bm_1", b"bm_2", b"acme/bm_1:model"):
        assert partitioner(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)
