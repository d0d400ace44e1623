"""What an outage costs: log volume while Kafka is down, how fast /readyz and POST answer while
MongoDB is paused, and how long a benchmark takes to complete once the server is back.

    .venv/bin/python bench/outages.py [--kafka-down 60] [--mongo-paused 30] [--samples 400]

Starts its own Kafka and FerretDB (scripts/services.sh, private state and free loopback ports),
the four services and the fake model server (50 ms a request), exactly as the fault-injection
tests do (tests/integration/faults.py), then:
1. Kafka killed mid-run for --kafka-down seconds: log lines per service while it is down, and
   seconds from its restart to the benchmark's completion;
2. FerretDB paused (SIGSTOP) mid-run for --mongo-paused seconds: the slowest /readyz of each
   service and a POST's answer time and status during the pause, and seconds from SIGCONT to
   completion.
Everything stops by itself; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.settings import Settings
from tests.fakes.model_server import FakeModelServer
from tests.integration.faults import (
    SERVICE_NAMES,
    Pipeline,
    PrivateServers,
    fault_settings_for,
    qa_body,
    submit,
    submit_ok,
    wait_completed,
    wait_mid_run,
)


def _lines(pipeline: Pipeline) -> dict[str, int]:
    return {name: pipeline.current[name].log().count("\n") for name in SERVICE_NAMES}


def _timed_get(url: str) -> tuple[float, int | str]:
    started = time.perf_counter()
    try:
        status: int | str = httpx.get(url, timeout=30).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return time.perf_counter() - started, status


def kafka_outage(servers: PrivateServers, pipeline: Pipeline, fake: FakeModelServer, *, down_s: float, samples: int) -> None:
    benchmark_id = submit_ok(pipeline, qa_body(fake, samples, name="kafka-outage"))
    wait_mid_run(pipeline, benchmark_id, timeout=120)
    before = _lines(pipeline)
    servers.kill_kafka()
    post_s, post = _timed_post(pipeline, fake)
    time.sleep(max(0.0, down_s - post_s))
    after = _lines(pipeline)
    servers.restart_kafka()
    restarted = time.monotonic()
    wait_completed(pipeline, benchmark_id, timeout=600)
    recovered = time.monotonic() - restarted
    print(f"\nKafka down for {down_s:.0f}s during a {samples}-sample benchmark")
    print(f"  POST while down: {post} in {post_s:.2f}s")
    for name in SERVICE_NAMES:
        lines = after[name] - before[name]
        print(f"  {name:<10} {lines:6d} log lines while down ({lines / down_s:.2f} a second)")
    total = sum(after[n] - before[n] for n in SERVICE_NAMES)
    print(f"  all four   {total:6d} log lines ({total / down_s:.2f} a second)")
    print(f"  completed {recovered:.1f}s after Kafka was back (healthy again: services.sh up returned)")


def _timed_post(pipeline: Pipeline, fake: FakeModelServer) -> tuple[float, str]:
    started = time.perf_counter()
    response = submit(pipeline, qa_body(fake, 16, name="during-outage"), key=f"bench-{time.time_ns()}", timeout=60)
    queued = response.json().get("queued") if response.status_code == 202 else None
    return time.perf_counter() - started, f"HTTP {response.status_code}" + (f" queued={queued}" if queued is not None else "")


def mongo_pause(servers: PrivateServers, pipeline: Pipeline, fake: FakeModelServer, *, paused_s: float, samples: int) -> None:
    benchmark_id = submit_ok(pipeline, qa_body(fake, samples, name="mongo-pause"))
    wait_mid_run(pipeline, benchmark_id, timeout=120)
    servers.pause_mongo()
    paused_at = time.monotonic()
    probes: dict[str, list[float]] = {name: [] for name in SERVICE_NAMES}
    statuses: dict[str, set] = {name: set() for name in SERVICE_NAMES}
    try:
        post_s, post = _timed_post(pipeline, fake)
        while time.monotonic() - paused_at < paused_s:
            for name in SERVICE_NAMES:
                took, status = _timed_get(f"{pipeline.current[name].url}/readyz")
                probes[name].append(took)
                statuses[name].add(status)
            time.sleep(1.0)
    finally:
        servers.resume_mongo()
    resumed = time.monotonic()
    wait_completed(pipeline, benchmark_id, timeout=600)
    recovered = time.monotonic() - resumed
    print(f"\nFerretDB paused (SIGSTOP) for {paused_s:.0f}s during a {samples}-sample benchmark")
    print(f"  POST while paused: {post} in {post_s:.2f}s")
    for name in SERVICE_NAMES:
        times = probes[name]
        print(
            f"  {name:<10} /readyz: {len(times)} probes, median {statistics.median(times) * 1000:.0f} ms,"
            f" slowest {max(times) * 1000:.0f} ms, statuses {sorted(map(str, statuses[name]))}"
        )
    print(f"  completed {recovered:.1f}s after SIGCONT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka-down", type=float, default=60.0, help="seconds Kafka stays down")
    parser.add_argument("--mongo-paused", type=float, default=30.0, help="seconds FerretDB stays paused")
    parser.add_argument("--samples", type=int, default=400, help="samples of the benchmark each fault lands in")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-outages-"))
    servers = PrivateServers(state / "servers")
    servers.up()
    try:
        with FakeModelServer() as fake:
            fake.configure(latency_ms=50)
            defaults = Settings()  # the shipped timings, not the tests' short ones
            settings = fault_settings_for(
                servers,
                **{
                    name: getattr(defaults, name)
                    for name in (
                        "retry_attempts",
                        "store_timeout_s",
                        "publish_timeout_s",
                        "reconcile_interval_s",
                        "outbox_grace_s",
                        "stall_timeout_s",
                        "readiness_interval_s",
                        "log_reminder_s",
                    )
                },
            )
            pipeline = Pipeline(settings, state)
            try:
                pipeline.start_warm(fake)
                kafka_outage(servers, pipeline, fake, down_s=args.kafka_down, samples=args.samples)
                mongo_pause(servers, pipeline, fake, paused_s=args.mongo_paused, samples=args.samples)
            finally:
                pipeline.stop_all()
    finally:
        servers.down()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
