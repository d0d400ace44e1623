"""Does a request cost more once the store holds data? The quickstart, alone and 20 at once, on
an empty store and on one already holding 100,000 score documents (issue 16, item 5: at most 1.2x).

    scripts/services.sh up && eval "$(scripts/services.sh env)"
    .venv/bin/python bench/store_growth.py [--stored 100000] [--concurrent 20] [--runs 3]

Each store is a fresh database on the running FerretDB (and fresh topics on the running Kafka)
served by the four services started as subprocesses, exactly as the integration tests start
them. The stored scores belong to another tenant's benchmarks and are inserted directly before
the services start, both as earlier versions kept them (`sample_scores`, a document per sample)
and as this one does (a collection per benchmark). Each figure is the median of --runs; a
warm-up quickstart runs first.
Everything stops by itself; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.datasets import inline_records
from shared.results.mongo_store import MongoStore, scores_collection
from shared.settings import Settings, TenantQuota
from shared.spec import load_spec
from tests.integration.faults import Pipeline, submit, wait_completed

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"
FILLER_TENANT = "bench-filler"
SCORES_PER_BENCHMARK = 1000
SHARD = 32
RUN_TIMEOUT_S = 600.0
SUBMIT_TIMEOUT_S = 120.0


def quickstart_body() -> dict[str, Any]:
    spec = load_spec(QUICKSTART)
    tasks = [t.model_copy(update={"dataset": inline_records(t.dataset, base_dir=QUICKSTART.parent)}) for t in spec.tasks]
    return spec.model_copy(update={"tasks": tasks}).model_dump(mode="json", by_alias=True, exclude_none=True)


async def _create_indexes(settings: Settings) -> None:
    store = await MongoStore.connect(settings)
    await store.close()


def fill(settings: Settings, count: int) -> float:
    """Store `count` scores of another tenant's benchmarks (1,000 each) twice over: as earlier
    versions kept them (a document each in `sample_scores`) and as this one does (a collection
    per benchmark); seconds taken."""
    started = time.perf_counter()
    asyncio.run(_create_indexes(settings))  # as a deployed store has them before anything is stored
    client: MongoClient = MongoClient(settings.mongo_url)
    db = client[settings.mongo_database]
    score = {"scores": {"rouge-1": 41.5, "rouge-l": 38.2}, "prediction": "a sentence of a prediction", "latencyMs": 2.5}
    for first in range(0, count, SCORES_PER_BENCHMARK):
        benchmark = f"bm_filler_{first // SCORES_PER_BENCHMARK}"
        ids = [f"s{i}" for i in range(min(SCORES_PER_BENCHMARK, count - first))]
        db["sample_scores"].insert_many(
            [
                {
                    "_id": json.dumps([FILLER_TENANT, benchmark, "lead", "qa", i]),
                    "tenant": FILLER_TENANT,
                    "benchmarkId": benchmark,
                    "model": "lead",
                    "task": "qa",
                    "sampleId": i,
                    "shard": n // SHARD,
                    "score": {"sampleId": i, **score},
                }
                for n, i in enumerate(ids)
            ],
            ordered=False,
        )
        db[scores_collection(FILLER_TENANT, benchmark)].insert_many(
            [
                {
                    "_id": json.dumps(["lead", "qa", i]),
                    "model": "lead",
                    "task": "qa",
                    "sampleId": i,
                    "shard": n // SHARD,
                    "score": {"sampleId": i, **score},
                }
                for n, i in enumerate(ids)
            ]
        )
    client.close()
    return time.perf_counter() - started


def submit_retrying(pipeline: Pipeline, body: dict[str, Any]) -> str:
    """POST with an Idempotency-Key, again while the answer is 503 (the store was busy: nothing
    stored, retry with the same key), until SUBMIT_TIMEOUT_S; the benchmark id."""
    key, deadline = uuid.uuid4().hex, time.monotonic() + SUBMIT_TIMEOUT_S
    while True:
        response = submit(pipeline, body, key=key, timeout=60)
        if response.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(float(response.headers.get("Retry-After", 1)))
    if response.status_code != 202:
        raise SystemExit(f"POST /v1/benchmarks: {response.status_code} {response.text[:1000]}")
    return str(response.json()["benchmarkId"])


def quickstarts(pipeline: Pipeline, body: dict[str, Any], count: int) -> float:
    """Seconds from submitting `count` quickstarts at once to the last one's report being readable."""

    def one(_: int) -> None:
        wait_completed(pipeline, submit_retrying(pipeline, body), timeout=RUN_TIMEOUT_S)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - started


def measure(label: str, stored: int, args: argparse.Namespace, base: Settings, state: Path) -> tuple[float, float]:
    run = uuid.uuid4().hex[:8]
    settings = base.model_copy(update={"mongo_database": f"bench_growth_{run}", "topic_prefix": f"growth{run}."})
    if stored:
        print(f"{label}: inserting {stored:,} score documents ...", flush=True)
        print(f"{label}: inserted in {fill(settings, stored):.1f}s", flush=True)
    pipeline = Pipeline(settings, state / run)
    (state / run).mkdir()
    body = quickstart_body()
    try:
        _ = pipeline.api_key  # made first: a failure while a service is being launched would orphan it
        pipeline.start_all()
        quickstarts(pipeline, body, 1)  # warm-up: consumer groups joined, models loaded
        alone = [quickstarts(pipeline, body, 1) for _ in range(args.runs)]
        together = [quickstarts(pipeline, body, args.concurrent) for _ in range(args.runs)]
    finally:
        pipeline.stop_all()
        client: MongoClient = MongoClient(settings.mongo_url)
        client.drop_database(settings.mongo_database)
        client.close()
    print(f"{label}: one quickstart {_runs(alone)}; {args.concurrent} at once {_runs(together)}", flush=True)
    return statistics.median(alone), statistics.median(together)


def _runs(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f}s (runs: {', '.join(f'{t:.2f}' for t in times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=100_000, help="score documents stored before the second round")
    parser.add_argument("--concurrent", type=int, default=20, help="quickstarts submitted at once")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (the median is printed)")
    args = parser.parse_args()
    if not (0 < args.stored <= 10_000_000 and 0 < args.concurrent <= 100 and 0 < args.runs <= 20):
        parser.error("--stored must be 1..10,000,000, --concurrent 1..100, --runs 1..20")
    quota = TenantQuota(benchmarks_in_flight=1000, evaluations_per_day=100_000_000)
    base = Settings().model_copy(update={"quotas": {"*": quota}})
    state = Path(tempfile.mkdtemp(prefix="bench-growth-"))
    try:
        empty = measure("empty store", 0, args, base, state)
        full = measure(f"{args.stored:,} stored", args.stored, args, base, state)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print()
    for what, before, after in (("one quickstart", empty[0], full[0]), (f"{args.concurrent} at once", empty[1], full[1])):
        print(f"{what:<16} {before:7.2f}s empty, {after:7.2f}s with {args.stored:,} stored: {after / before:.2f}x")
    print("target (issue 16, item 5): at most 1.2x")


if __name__ == "__main__":
    main()
