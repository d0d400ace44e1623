"""Runner throughput against a fake OpenAI-compatible endpoint answering in L ms.

With a concurrency limit C the ceiling is C / L samples per second; the runner should reach at
least 90% of it. With L = 0 the runner should not be the pipeline's bottleneck, so the scorer's
throughput on the same outputs is printed beside it.

    .venv/bin/python bench/runner_throughput.py [--concurrency 16] [--latency-ms 50 0] [--samples 3000]

The fake server runs in its own process (tests/fakes/model_server.py); the runner side is the
real executor, pacing layer and OpenAI adapter, with BENCH_RUNNER_SHARDS_IN_FLIGHT-many shards
in flight as the runner service runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.runner.executor import run_work_item  # noqa: E402
from services.runner.models import ModelPool  # noqa: E402
from services.scorer.scoring import score_outputs  # noqa: E402
from shared.events import ModelOutputs, Sample, WorkItem  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.spec import ModelConfig, TaskSpec  # noqa: E402


def start_fake_server(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.model_server", "--port", "0", "--latency-ms", str(latency_ms)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = process.stdout.readline().strip() if process.stdout else ""  # piped: always there
    if not url.startswith("http"):
        process.kill()
        raise SystemExit(f"the fake server did not start: {url!r}")
    return process, url


def work_items(model: ModelConfig, task: TaskSpec, samples: int, shard_size: int) -> list[WorkItem]:
    records = [json.loads(line) for line in (REPO / "examples/data/summarization.jsonl").read_text().splitlines()]
    all_samples = [
        Sample(
            id=str(i),
            inputs={"document": records[i % len(records)]["document"]},
            references=[records[i % len(records)]["summary"]],
        )
        for i in range(samples)
    ]
    return [
        WorkItem(benchmark_id="bm_bench", model=model, task=task, shard=index, samples=all_samples[start : start + shard_size])
        for index, start in enumerate(range(0, samples, shard_size))
    ]


async def run(items: list[WorkItem], model: ModelConfig, shards_in_flight: int) -> tuple[float, list[ModelOutputs]]:
    pool = ModelPool()
    gate = asyncio.Semaphore(shards_in_flight)
    adapter = pool.get(model, tenant="default")

    async def one(item: WorkItem) -> ModelOutputs:
        async with gate:
            return await run_work_item(item, adapter)

    started = time.perf_counter()
    outputs = await asyncio.gather(*(one(item) for item in items))
    elapsed = time.perf_counter() - started
    await pool.close()
    return elapsed, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[50.0, 0.0])
    parser.add_argument("--samples", type=int, default=3000)
    args = parser.parse_args()
    settings = Settings()
    task = TaskSpec.model_validate({"name": "sum", "type": "summarization", "dataset": "x.jsonl"})

    for latency in args.latency_ms:
        process, url = start_fake_server(latency)
        try:
            model = ModelConfig.model_validate(
                {
                    "name": "fake",
                    "provider": "openai",
                    "model": "fake",
                    "baseUrl": f"{url}/v1",
                    "limits": {"concurrency": args.concurrency, "adaptive": False},
                }
            )
            items = work_items(model, task, args.samples, settings.shard_size)
            asyncio.run(run(items[:2], model, settings.runner_shards_in_flight))  # warm up connections
            elapsed, outputs = asyncio.run(run(items, model, settings.runner_shards_in_flight))
        finally:
            process.terminate()
            process.wait()
        errors = sum(1 for o in outputs for s in o.outputs if s.error)
        rate = args.samples / elapsed
        line = f"L={latency:g} ms C={args.concurrency}: {rate:,.0f} samples/s ({args.samples} samples, {errors} errors)"
        if latency > 0:
            ceiling = args.concurrency / (latency / 1000)
            line += f"; ceiling C/L = {ceiling:,.0f}/s; ratio {rate / ceiling:.1%}"
        else:
            started = time.perf_counter()
            for output in outputs:
                score_outputs(output)
            scored = args.samples / (time.perf_counter() - started)
            line += f"; the scorer scores the same outputs (ROUGE x4) at {scored:,.0f} samples/s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
