"""The distributed pipeline against the embedded runtime on one machine: the same spec (2
built-in models x N QA samples) run both ways, samples per second each and their ratio (issue
16, item 3: distributed at least 0.5x embedded).

    scripts/services.sh up && eval "$(scripts/services.sh env)"
    .venv/bin/python bench/distributed_throughput.py [--samples 10000] [--runs 3]

Embedded: services/embedded.py's run_benchmark over a fresh SQLite file, in this process.
Distributed: the four services as subprocesses (as the integration tests start them) against
the running Kafka and FerretDB, with their own topic prefix and database (dropped at the end);
the time runs from the POST to the report being readable. The dataset (the example QA records
repeated under new ids) is served over HTTP on loopback, so both runtimes read the same bytes
and the request stays small. Each rate is the median of --runs; one small benchmark warms the
services up first. Every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.embedded import run_benchmark
from shared.results.sqlite_store import SqliteStore
from shared.settings import Settings, TenantQuota
from shared.spec import parse_spec
from tests.integration.faults import Pipeline, submit_ok, wait_completed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_latency import STAGES, timestamps

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data" / "qa.jsonl"
RUN_TIMEOUT_S = 900.0
MODELS = ("builtin:lead", "builtin:extractive")


def write_dataset(directory: Path, samples: int) -> str:
    """`samples` QA records (the examples repeated, each under its own id); the file's name."""
    examples = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    name = f"qa-{samples}.jsonl"
    with (directory / name).open("w") as out:
        for i in range(samples):
            out.write(json.dumps({**examples[i % len(examples)], "id": f"q{i}"}) + "\n")
    return name


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(directory: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def spec_body(url: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "suite": "throughput",
        "models": list(MODELS),
        "tasks": [{"name": "qa", "type": "qa", "dataset": url, "metrics": ["exact-match", "f1-score"]}],
    }


def embedded_seconds(settings: Settings, url: str, state: Path) -> float:
    async def run() -> float:
        store = SqliteStore(state / f"embedded-{uuid.uuid4().hex[:8]}.sqlite3", tenant=settings.tenant)
        try:
            started = time.perf_counter()
            report = await run_benchmark(parse_spec(spec_body(url, "embedded")), base_dir=state, store=store, settings=settings)
            took = time.perf_counter() - started
        finally:
            await store.close()
        if report.get("status") != "completed":
            raise SystemExit(f"the embedded run did not complete: {str(report)[:500]}")
        return took

    return asyncio.run(run())


def distributed_seconds(pipeline: Pipeline, url: str, samples: int) -> float:
    """Seconds from the POST to the report; prints when each topic saw the benchmark's messages."""
    started_at, started = time.time(), time.perf_counter()
    benchmark_id = submit_ok(pipeline, spec_body(url, "distributed"))
    report = wait_completed(pipeline, benchmark_id, timeout=RUN_TIMEOUT_S)
    took = time.perf_counter() - started
    scored = report.get("progress", {}).get("scored")
    if scored != len(MODELS) * samples:
        raise SystemExit(f"{benchmark_id}: {scored} of {len(MODELS) * samples} samples scored")
    print(f"  {benchmark_id}: {took:.2f}s; Kafka append times after the POST:")
    stamps = asyncio.run(timestamps(pipeline.settings, benchmark_id))
    for topic in STAGES:
        if times := stamps.get(topic):
            first, last = times[0] - started_at, times[-1] - started_at
            print(f"    {topic:<22} {len(times):>5} messages  first +{first:6.2f}s  last +{last:6.2f}s")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000, help="QA samples (each run by both models)")
    parser.add_argument("--runs", type=int, default=3, help="runs each way (the median is printed)")
    args = parser.parse_args()
    if not (0 < args.samples <= 50_000 and 0 < args.runs <= 20):
        parser.error("--samples must be 1..50,000 and --runs 1..20")
    evaluations = len(MODELS) * args.samples
    run = uuid.uuid4().hex[:8]
    settings = Settings().model_copy(
        update={
            "mongo_database": f"bench_throughput_{run}",
            "topic_prefix": f"thr{run}.",
            "outbound_allow": ["127.0.0.0/8"],  # the dataset server
            "max_samples": max(evaluations, Settings().max_samples),
            "quotas": {"*": TenantQuota(benchmarks_in_flight=100, evaluations_per_day=100_000_000)},
        }
    )
    state = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    server = serve(state)
    url = f"http://127.0.0.1:{server.server_address[1]}/{write_dataset(state, args.samples)}"
    warm_up = f"http://127.0.0.1:{server.server_address[1]}/{write_dataset(state, 64)}"
    pipeline = Pipeline(settings, state)
    try:
        embedded = [embedded_seconds(settings, url, state) for _ in range(args.runs)]
        print(f"embedded:    {_rates(embedded, evaluations)}", flush=True)
        _ = pipeline.api_key  # made first: a failure while a service is being launched would orphan it
        pipeline.start_all()
        wait_completed(pipeline, submit_ok(pipeline, spec_body(warm_up, "warm-up")), timeout=RUN_TIMEOUT_S)
        distributed = [distributed_seconds(pipeline, url, args.samples) for _ in range(args.runs)]
        print(f"distributed: {_rates(distributed, evaluations)}", flush=True)
    finally:
        pipeline.stop_all()
        server.shutdown()
        client: MongoClient = MongoClient(settings.mongo_url)
        client.drop_database(settings.mongo_database)
        client.close()
        shutil.rmtree(state, ignore_errors=True)
    ratio = statistics.median(embedded) / statistics.median(distributed)
    print(f"\n{len(MODELS)} models x {args.samples:,} samples: distributed / embedded = {ratio:.2f}x (target: at least 0.5x)")


def _rates(seconds: list[float], evaluations: int) -> str:
    median = statistics.median(seconds)
    runs = ", ".join(f"{s:.1f}s" for s in seconds)
    return f"{evaluations / median:8.0f} samples/s (median of {len(seconds)}: {median:.2f}s; runs {runs})"


if __name__ == "__main__":
    main()
