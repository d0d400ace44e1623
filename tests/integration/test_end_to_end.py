"""The four services as separate processes: the quickstart over HTTP equals the embedded run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services import embedded
from shared import topics
from shared.results.sqlite_store import SqliteStore
from shared.settings import Settings
from shared.spec import load_spec
from tests.conftest import EXAMPLES
from tests.integration.conftest import Kafka, Services
from tests.waiting import wait_for_async

pytestmark = pytest.mark.integration


async def _wait_for_members(settings: Settings, group: str, members: int, timeout: float = 30.0) -> None:
    """Submit only once both runner replicas have joined the group, so both get partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    seen = ["nothing yet"]

    async def stable() -> bool:
        [description] = await admin.describe_consumer_groups([settings.topic_prefix + group])
        # each group: (error_code, group, state, protocol_type, protocol, members)
        _, _, state, _, _, found = description.groups[0]
        seen[0] = f"{state} with {len(found)} members"
        return len(found) >= members and state == "Stable"

    try:
        await wait_for_async(
            f"consumer group {group} to reach {members} stable members",
            stable,
            timeout=timeout,
            interval=0.5,
            detail=lambda: f"last seen: {seen[0]}",
        )
    finally:
        await admin.close()


async def test_quickstart_over_kafka_equals_the_embedded_run_and_two_runners_share_the_work(
    services: Services, kafka: Kafka, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"shard_size": 8})
    services.settings = settings
    runners = [services.start("runner", replica=i) for i in range(2)]
    services.start("scorer")
    services.start("aggregator")
    gateway = services.start("gateway")
    # both groups of the runners settled: a planner rebalance mid-run re-reads the uncommitted
    # request and plans it again (at least once), which would run every shard twice
    await _wait_for_members(settings, "benchmarks-runner", 2)
    await _wait_for_members(settings, "benchmarks-planner", 2)

    started = time.monotonic()
    submitted = subprocess.run(
        [
            str(Path(sys.executable).parent / "benchmarks"),
            "submit",
            str(EXAMPLES / "quickstart.yaml"),
            "--wait",
            "--json",
            "--url",
            gateway.url,
            "--timeout",
            "120",
        ],
        env=services.env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert submitted.returncode == 0, submitted.stderr
    over_kafka = json.loads(submitted.stdout)
    print(f"quickstart over Kafka: {elapsed:.2f}s from submit to report")

    local_store = SqliteStore(tmp_path / "embedded.sqlite3")
    local = await embedded.run_benchmark(
        load_spec(EXAMPLES / "quickstart.yaml"), base_dir=EXAMPLES, store=local_store, settings=settings
    )
    await local_store.close()

    assert over_kafka["status"] == "completed"
    assert over_kafka["results"] == local["results"]  # same numbers, unrounded
    assert [t["datasetDigest"] for t in over_kafka["tasks"]] == [t["datasetDigest"] for t in local["tasks"]]
    strip = lambda report: [{k: v for k, v in d.items() if k != "latencyMs"} for d in report["details"]]  # noqa: E731
    assert strip(over_kafka) == strip(local)
    assert over_kafka["progress"] == {"scored": 240, "expected": 240}

    shards_run = [runner.log().count("ran shard ") for runner in runners]
    assert sum(shards_run) == 2 * (60 // 8 + 1) * 2 and all(n > 0 for n in shards_run), shards_run

    [completed] = await kafka.read(topics.BENCHMARKS_COMPLETED, count=1)
    assert completed["benchmarkId"] == over_kafka["benchmarkId"] and completed["results"] == local["results"]
