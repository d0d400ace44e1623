"""Peak memory of an embedded run: 2 built-in models x N question-answering samples.

The run happens in a child process (a fresh interpreter, the embedded runtime over SQLite in a
temporary directory), so its peak RSS is the run's alone; this prints it with the wall time and
a digest of the report (without the benchmark id and the latencies, which differ between runs),
so two versions of the code can be compared on the same N: same digest, same numbers.

    .venv/bin/python bench/embedded_memory.py [--samples 100000] [--report report.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_dataset(path: Path, samples: int) -> None:
    """`samples` QA records cycled from the example dataset, each with its own id."""
    records = [json.loads(line) for line in (REPO / "examples/data/qa.jsonl").read_text().splitlines() if line.strip()]
    with path.open("w") as out:
        for i in range(samples):
            record = records[i % len(records)]
            out.write(json.dumps({**record, "id": f"q{i:07d}"}) + "\n")


def write_spec(path: Path, dataset: Path) -> None:
    path.write_text(
        "name: Embedded memory bench\nsuite: bench-memory\n"
        "models: [builtin:lead, builtin:extractive]\n"
        f"tasks:\n  - name: qa\n    type: qa\n    dataset: {dataset.name}\n    metrics: [exact-match, f1-score]\n"
    )


def stable_part(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what differs from run to run: the benchmark id, the latencies and the
    dataset's (temporary) location."""
    details = [{k: v for k, v in cell.items() if k != "latencyMs"} for cell in report["details"]]
    tasks = [{k: v for k, v in task.items() if k != "dataset"} for task in report["tasks"]]
    return {**{k: v for k, v in report.items() if k != "benchmarkId"}, "details": details, "tasks": tasks}


def digest(report: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(stable_part(report), sort_keys=True).encode()).hexdigest()[:16]


async def child(directory: Path, samples: int) -> dict[str, Any]:
    from services.embedded import run_benchmark
    from shared.results.sqlite_store import SqliteStore
    from shared.settings import Settings
    from shared.spec import load_spec

    write_dataset(directory / "qa.jsonl", samples)
    write_spec(directory / "spec.yaml", directory / "qa.jsonl")
    store = SqliteStore(directory / "bench.db")
    try:
        return await run_benchmark(load_spec(directory / "spec.yaml"), base_dir=directory, store=store, settings=Settings())
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000, help="samples per model (default 100,000)")
    parser.add_argument("--report", type=Path, help="also write the report (as the child returned it) here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # the run itself, in this directory
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(asyncio.run(child(args.child, args.samples))))
        return

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as directory:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--samples", str(args.samples), "--child", directory],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the embedded run failed:\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout.splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    cpu = usage.ru_utime + usage.ru_stime  # steadier than the wall time on a shared machine
    print(f"embedded run, 2 models x {args.samples:,} samples: peak RSS {peak_mb:,.0f} MB, wall {wall:,.1f} s, CPU {cpu:,.1f} s")
    print(f"report digest {digest(report)} (without the benchmark id, latencies and dataset location)")
    print(json.dumps(report["results"]))


if __name__ == "__main__":
    main()
