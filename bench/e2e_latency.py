"""Where the time of one benchmark goes over Kafka: submit a spec, then read every topic's
Kafka timestamps for that benchmark and print the timeline.

    scripts/dev.sh up
    .venv/bin/python bench/e2e_latency.py [examples/quickstart.yaml] [--runs 3]

Needs a running gateway (BENCH_GATEWAY_URL) and Kafka (BENCH_KAFKA_BOOTSTRAP, BENCH_TOPIC_PREFIX).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from shared import topics
from shared.datasets import inline_records
from shared.settings import Settings
from shared.spec import load_spec

STAGES = [
    topics.BENCHMARKS_REQUESTED,
    topics.BENCHMARKS_PLANNED,
    topics.BENCHMARKS_WORK,
    topics.BENCHMARKS_OUTPUTS,
    topics.BENCHMARKS_SCORES,
    topics.BENCHMARKS_COMPLETED,
]


def submit_and_wait(settings: Settings, spec_path: Path) -> tuple[str, float, float]:
    spec = load_spec(spec_path)
    tasks = [t.model_copy(update={"dataset": inline_records(t.dataset, base_dir=spec_path.parent)}) for t in spec.tasks]
    body = spec.model_copy(update={"tasks": tasks}).model_dump(mode="json", by_alias=True, exclude_none=True)
    with httpx.Client(base_url=settings.gateway_url, timeout=60) as client:
        started = time.time()
        response = client.post("/v1/benchmarks", json=body)
        response.raise_for_status()
        benchmark_id = response.json()["benchmarkId"]
        while True:
            report = client.get(f"/v1/benchmarks/{benchmark_id}").json()
            if report["status"] in ("completed", "failed"):
                return benchmark_id, started, time.time()
            time.sleep(0.05)


async def timestamps(settings: Settings, benchmark_id: str) -> dict[str, list[float]]:
    """Kafka append times (seconds) of every message of this benchmark, per topic."""
    found: dict[str, list[float]] = {}
    for topic in STAGES:
        consumer = AIOKafkaConsumer(
            settings.topic_prefix + topic,
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            times = []
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                if not batch:
                    break
                for records in batch.values():
                    times += [r.timestamp / 1000 for r in records if json.loads(r.value).get("benchmarkId") == benchmark_id]
            found[topic] = sorted(times)
        finally:
            await consumer.stop()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default="examples/quickstart.yaml", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    for run in range(1, args.runs + 1):
        benchmark_id, started, finished = submit_and_wait(settings, args.spec)
        times = asyncio.run(timestamps(settings, benchmark_id))
        print(f"run {run}: {benchmark_id}: {finished - started:.2f}s from POST to the report being readable")
        for topic in STAGES:
            stamps = times.get(topic, [])
            if stamps:
                print(
                    f"  {topic:<22} {len(stamps):>4} messages   first +{stamps[0] - started:6.2f}s"
                    f"   last +{stamps[-1] - started:6.2f}s"
                )


if __name__ == "__main__":
    main()
