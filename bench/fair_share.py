"""Fair share (issue 16): does a small benchmark wait behind another tenant's big slow one?

    eval "$(scripts/services.sh env)"
    .venv/bin/python bench/fair_share.py [--big-samples 1200] [--latency-ms 200] [--concurrency 4]
                                         [--small-samples 20] [--delay 5] [--solo-runs 3]

Starts the fake model server (answering in --latency-ms) and the four services (one replica
each, settings from the environment as deployed) against the running Kafka and FerretDB, in a
topic prefix and database of this run (deleted at the end); two tenants, an admin key each.
1. Tenant B's small benchmark (--small-samples QA samples of the built-in model `lead`) alone,
   --solo-runs times: the median POST-to-completed time is its solo time.
2. Tenant A's big benchmark (--big-samples samples against the fake model, concurrency
   --concurrency in the spec's limits), then the small one --delay seconds later.
Prints the small one's time alone and behind the big one against the target (2x solo + 1 s),
and the big one's throughput (samples over its POST-to-completed time) against its ceiling
C/L (at least 90%), with PASS/FAIL for each. Every wait has a deadline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _services import REPO, Deployment, bench_settings, fake_model_server, wait_until


def qa_records(count: int) -> list[dict[str, Any]]:
    """`count` QA records cycled from the example dataset, each with an id of its own."""
    examples = [json.loads(line) for line in (REPO / "examples/data/qa.jsonl").read_text().splitlines()]
    return [{**examples[i % len(examples)], "id": f"q{i}"} for i in range(count)]


def small_body(samples: int) -> dict[str, Any]:
    return {
        "name": "small",
        "models": ["builtin:lead"],
        "tasks": [{"name": "qa", "type": "qa", "dataset": {"records": qa_records(samples)}}],
    }


def big_body(samples: int, model_url: str, concurrency: int) -> dict[str, Any]:
    """`samples` short QA records (so that 10,000 fit in one request) against the fake model."""
    records = [{"id": f"q{i}", "question": f"question {i}", "answers": [f"Question: question {i}"]} for i in range(samples)]
    return {
        "name": "big",
        "models": [
            {
                "name": "slow",
                "provider": "openai",
                "model": "slow",
                "baseUrl": f"{model_url}/v1",
                "limits": {"concurrency": concurrency},
            }
        ],
        "tasks": [
            {"name": "qa", "type": "qa", "dataset": {"records": records}, "prompt": {"template": "Question: {question}\nAnswer:"}}
        ],
    }


class Tenant:
    """A tenant's HTTP client of the gateway."""

    def __init__(self, gateway: str, key: str) -> None:
        self.client = httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def submit(self, body: dict[str, Any]) -> tuple[str, float]:
        posted = time.monotonic()
        response = self.client.post("/v1/benchmarks", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/benchmarks: {response.status_code} {response.text[:500]}")
        return response.json()["benchmarkId"], posted

    def wait_completed(self, benchmark_id: str, *, timeout: float, interval: float = 0.05) -> float:
        """monotonic() when GET first says `completed` (polled every `interval` s); RuntimeError on `failed`."""
        last: dict[str, Any] = {}

        def completed() -> float | None:
            nonlocal last
            last = self.client.get(f"/v1/benchmarks/{benchmark_id}").json()
            if last.get("status") == "failed":
                raise RuntimeError(f"{benchmark_id} failed: {last.get('reason')!r}")
            return time.monotonic() if last.get("status") == "completed" else None

        try:
            return wait_until(f"{benchmark_id} to complete", completed, timeout=timeout, interval=interval)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} (last status {last.get('status')!r}, progress {last.get('progress')})") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-samples", type=int, default=1200)
    parser.add_argument("--latency-ms", type=float, default=200.0, help="the fake model's answer time L")
    parser.add_argument("--concurrency", type=int, default=4, help="C in the big benchmark's limits")
    parser.add_argument("--small-samples", type=int, default=20)
    parser.add_argument("--delay", type=float, default=5.0, help="seconds between the big and the small POST")
    parser.add_argument("--solo-runs", type=int, default=3)
    args = parser.parse_args()
    ceiling = args.concurrency / (args.latency_ms / 1000)
    big_timeout = 3 * args.big_samples / ceiling + 60  # a third of the ceiling, and start-up

    settings = bench_settings("fair")
    workdir = Path(tempfile.mkdtemp(prefix="bench-fair-share-"))
    deployment = Deployment(settings, workdir)
    try:
        with fake_model_server(args.latency_ms) as (model_url, _):
            for name in ("aggregator", "scorer", "runner", "gateway"):
                deployment.start(name)
            gateway = deployment.started[-1].url
            team_a = Tenant(gateway, deployment.api_key("team-a"))
            team_b = Tenant(gateway, deployment.api_key("team-b"))

            warm_up, _ = team_b.submit(small_body(args.small_samples))  # consumer groups settle, connections open
            team_b.wait_completed(warm_up, timeout=120)
            solo = []
            for _ in range(args.solo_runs):
                benchmark_id, posted = team_b.submit(small_body(args.small_samples))
                solo.append(team_b.wait_completed(benchmark_id, timeout=60) - posted)

            big_id, big_posted = team_a.submit(big_body(args.big_samples, model_url, args.concurrency))
            time.sleep(args.delay)
            small_id, small_posted = team_b.submit(small_body(args.small_samples))
            behind = team_b.wait_completed(small_id, timeout=big_timeout) - small_posted
            # polled less often: each GET counts the benchmark's stored scores, load of its own
            big_seconds = team_a.wait_completed(big_id, timeout=big_timeout, interval=0.25) - big_posted
    except BaseException:
        for service in deployment.started:
            print(f"----- {service.name} ({service.log_path}) -----\n{service.log_tail()}", file=sys.stderr)
        raise
    finally:
        deployment.stop()
        deployment.delete_data()
        shutil.rmtree(workdir, ignore_errors=True)

    solo_s = median(solo)
    target = 2 * solo_s + 1
    rate = args.big_samples / big_seconds
    print(f"small benchmark (team-b, {args.small_samples} samples of builtin:lead):")
    print(f"  alone:        {solo_s:.2f}s (median of {', '.join(f'{s:.2f}' for s in solo)})")
    print(
        f"  behind big:   {behind:.2f}s (submitted {args.delay:g}s after it); target <= 2 x solo + 1 s"
        f" = {target:.2f}s  {'PASS' if behind <= target else 'FAIL'}"
    )
    print(f"big benchmark (team-a, {args.big_samples} samples, L={args.latency_ms:g} ms, C={args.concurrency}):")
    print(
        f"  {big_seconds:.1f}s from POST to completed: {rate:.1f} samples/s; ceiling C/L = {ceiling:.1f}/s;"
        f" {rate / ceiling:.0%} of it; target >= 90%  {'PASS' if rate >= 0.9 * ceiling else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
