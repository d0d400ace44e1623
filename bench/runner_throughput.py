"""Runner throughput against a fake OpenAI-compatible endpoint answering in L ms.

With a concurrency limit C the ceiling is C / L samples per second; the runner should reach at
least 90% of it. With L = 0 the ceiling is the endpoint itself: the runner's request phase is
compared with a bare aiohttp client (C workers posting the same chat-completions body in a loop,
nothing else) against the same server, and should reach at least 90% of its rate; the scorer's
throughput on the same outputs is printed beside it. Each rate is the median of --repeat runs,
the runner's and the bare client's interleaved (the server and the client share the machine's
cores, so single runs are noisy).

    .venv/bin/python bench/runner_throughput.py [--concurrency 16] [--latency-ms 50 0] [--samples 3000] [--repeat 5]

The fake server runs in its own process (tests/fakes/model_server.py); the runner side is the
real executor, pacing layer and OpenAI adapter, with BENCH_RUNNER_SHARDS_IN_FLIGHT-many shards
in flight as the runner service runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from services.runner.executor import run_work_item  # noqa: E402
from services.runner.models import ModelPool  # noqa: E402
from services.runner.prompts import render_prompt  # noqa: E402
from services.scorer.scoring import score_outputs  # noqa: E402
from shared.events import ModelOutputs, Sample, WorkItem  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.spec import ModelConfig, TaskSpec  # noqa: E402


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds, and CPU seconds of this process (the client side: the server runs in
    another process), which other work on the machine does not inflate."""

    wall: float
    cpu: float

    @classmethod
    def now(cls) -> Timing:
        return cls(time.perf_counter(), time.process_time())

    def __sub__(self, other: Timing) -> Timing:
        return Timing(self.wall - other.wall, self.cpu - other.cpu)


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


async def run(items: list[WorkItem], model: ModelConfig, shards_in_flight: int) -> tuple[Timing, list[ModelOutputs]]:
    pool = ModelPool()
    gate = asyncio.Semaphore(shards_in_flight)
    adapter = pool.get(model, tenant="default")

    async def one(item: WorkItem) -> ModelOutputs:
        async with gate:
            return await run_work_item(item, adapter)

    started = Timing.now()
    outputs = await asyncio.gather(*(one(item) for item in items))
    elapsed = Timing.now() - started
    await pool.close()
    return elapsed, outputs


async def bare_client(url: str, body: dict[str, object], *, requests: int, concurrency: int) -> Timing:
    """Time taken by `requests` POSTs of `body` by `concurrency` workers sharing one aiohttp session:
    the endpoint's rate with (almost) nothing of ours on the client side."""
    left = requests

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.post(f"{url}/v1/chat/completions", json=body) as response:
                if response.status != 200:
                    raise SystemExit(f"the bare client got HTTP {response.status}")
                await response.json()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))  # warm up the connections
        left = requests
        started = Timing.now()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return Timing.now() - started


def chat_body(item: WorkItem) -> dict[str, object]:
    """What the OpenAI adapter posts for the item's first sample."""
    system, prompt = render_prompt(item.task, item.samples[0], item.examples)
    params = item.model.params
    return {
        "model": item.model.model_id,
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[50.0, 0.0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the medians are printed")
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
            runs: list[Timing] = []
            bare_runs: list[Timing] = []
            outputs: list[ModelOutputs] = []
            errors = 0
            for _ in range(args.repeat):
                timing, outputs = asyncio.run(run(items, model, settings.runner_shards_in_flight))
                runs.append(timing)
                errors += sum(1 for o in outputs for s in o.outputs if s.error)
                if latency == 0:
                    body = chat_body(items[0])
                    bare_runs.append(asyncio.run(bare_client(url, body, requests=args.samples, concurrency=args.concurrency)))
        finally:
            process.terminate()
            process.wait()
        rates = [args.samples / t.wall for t in runs]
        rate = statistics.median(rates)
        line = f"L={latency:g} ms C={args.concurrency}: {rate:,.0f} samples/s"
        line += f" ({args.samples} samples x {args.repeat} runs, {errors} errors)"
        if latency > 0:
            ceiling = args.concurrency / (latency / 1000)
            line += f"; ceiling C/L = {ceiling:,.0f}/s; ratio {rate / ceiling:.1%}"
        else:
            bare_rates = [args.samples / t.wall for t in bare_runs]
            bare_rate = statistics.median(bare_rates)
            line += f"; a bare aiohttp client: {bare_rate:,.0f} requests/s; ratio {rate / bare_rate:.1%}"
            line += f" (runs: {' '.join(f'{r:,.0f}' for r in rates)} vs {' '.join(f'{r:,.0f}' for r in bare_rates)})"
            cpu = statistics.median(t.cpu for t in runs) / args.samples * 1e6
            bare_cpu = statistics.median(t.cpu for t in bare_runs) / args.samples * 1e6
            line += f"; client CPU per request: runner {cpu:,.0f} us, bare client {bare_cpu:,.0f} us"
            started = time.perf_counter()
            for output in outputs:
                score_outputs(output)
            scored = args.samples / (time.perf_counter() - started)
            line += f"; the scorer scores the same outputs (ROUGE x4) at {scored:,.0f} samples/s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
