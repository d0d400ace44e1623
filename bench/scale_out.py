"""Scale-out (issue 16): do two replicas of a stage do (nearly) twice the work of one?

    eval "$(scripts/services.sh env)"
    .venv/bin/python bench/scale_out.py --stage runner [--latency-ms 50] [--concurrency 8] [--samples 4800]
    .venv/bin/python bench/scale_out.py --stage scorer [--messages 240] [--tokens 600]

Each replica count runs in a topic prefix and database of its own (deleted at the end), against
the running Kafka and FerretDB, with the deployment's settings from the environment (BENCH_*,
the same for every replica). Only the stage measured and what feeds it run, so that no other
service takes CPU from it (the machine it was written on has 2 cores).

runner: the gateway and N runner replicas; the fake model server answers in --latency-ms; the
  spec's concurrency C is per runner process, so N replicas have a ceiling of N x C/L. After a
  warm-up benchmark, one benchmark of --samples QA samples; its run stage is timed from its first
  to its last `benchmarks.outputs` message (Kafka timestamps), the samples of the first not
  counted. Target: 2 replicas >= 1.8x 1. Printed beside: the rate from the POST (planning and
  the first shard are fixed costs that a bigger benchmark spreads thinner), when the work was on
  Kafka, how many shards each replica ran, the CPU each process used.
scorer: N scorer replicas only, started on an empty topic; once their group is stable, --messages
  ModelOutputs of 32 samples each (summaries of about --tokens tokens, prediction and reference,
  four ROUGE variants) are produced to `benchmarks.outputs`, round-robin over its partitions (so
  each replica gets as much), and timed from the first produced to the last score appended.
  Printed beside: the machine's CPU use in that window and each scorer's and Kafka's, the samples
  per scorer CPU second (what other load on the machine does not change), and one core's rate
  scoring the same messages in this process (no Kafka).
  Target: 2 replicas >= 1.7x 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _services import (
    CpuUsage,
    Deployment,
    bench_settings,
    fake_model_server,
    messages_in,
    topic_timestamps,
    wait_group_stable,
    wait_until,
)
from aiokafka import AIOKafkaProducer
from fair_share import Tenant, big_body
from scorer_throughput import make_pairs

from services.scorer.scoring import score_outputs
from shared import topics
from shared.events import ModelOutputs, SampleOutput
from shared.service import ensure_topics
from shared.settings import Settings

ROUGE = ["rouge-1", "rouge-2", "rouge-l", "rouge-lsum"]
SAMPLES_PER_MESSAGE = 32


@dataclass
class Measured:
    replicas: int
    rate: float
    """Samples a second: what the target is about."""
    detail: str
    overall: float | None = None
    """Samples a second including fixed costs (planning, start), when they differ."""


# --------------------------------------------------------------------------- runner


def measure_runner(replicas: int, args: argparse.Namespace) -> Measured:
    settings = bench_settings("scale-runner")
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-runner-"))
    deployment = Deployment(settings, workdir)
    try:
        with fake_model_server(args.latency_ms) as (model_url, model_pid):
            runners = deployment.start("runner", replicas=replicas)
            (gateway,) = deployment.start("gateway")
            tenant = Tenant(gateway.url, deployment.api_key("team-a"))
            wait_group_stable(settings, "benchmarks-runner", members=replicas)
            warm_up, _ = tenant.submit(big_body(4 * SAMPLES_PER_MESSAGE * replicas, model_url, args.concurrency))
            outputs_of(settings, warm_up, 4 * SAMPLES_PER_MESSAGE * replicas, timeout=120)

            processes = {f"runner {i}": runner.process.pid for i, runner in enumerate(runners)}
            usage = CpuUsage(processes | {"fake model": model_pid} | kafka_process())
            posted = time.time()
            benchmark_id, _ = tenant.submit(big_body(args.samples, model_url, args.concurrency))
            ceiling = replicas * args.concurrency / (args.latency_ms / 1000)
            outputs = outputs_of(settings, benchmark_id, args.samples, timeout=3 * args.samples / ceiling + 60)
            cores = usage.cores()
            # how the work was split (the runner logs each shard it ran): keyed partitions need not be even
            shards = [runner.log_path.read_text(errors="replace").count(f"ran shard {benchmark_id}:") for runner in runners]
            planned = max(stamp for stamp, _ in messages_of(settings, topics.BENCHMARKS_WORK, benchmark_id, sum(shards)))
    except BaseException:
        print_logs(deployment)
        raise
    finally:
        deployment.stop()
        deployment.delete_data()
        shutil.rmtree(workdir, ignore_errors=True)
    (first, first_samples), (last, _) = outputs[0], outputs[-1]
    run_rate = (args.samples - first_samples) / (last - first)  # the run stage: planning and the first shard are fixed costs
    overall = args.samples / (last - posted)
    return Measured(
        replicas,
        run_rate,
        f"first to last output {run_rate:.1f}/s, {run_rate / ceiling:.0%} of the ceiling {replicas} x C/L = {ceiling:.0f}/s;"
        f" from POST {overall:.1f}/s (work on Kafka after {planned - posted:.1f}s, first output after {first - posted:.1f}s,"
        f" last after {last - posted:.1f}s); shards run per replica: {' + '.join(map(str, shards))}; cores busy: {cores}",
        overall,
    )


def messages_of(settings: Settings, topic: str, benchmark_id: str, count: int) -> list[tuple[float, dict]]:
    """(Kafka timestamp, message) of the first `count` messages of `benchmark_id` on a topic."""
    found: list[tuple[float, dict]] = []
    seen = 0

    def done(messages: list[tuple[float, bytes]]) -> bool:
        nonlocal seen
        for stamp, value in messages[seen:]:
            message = json.loads(value)
            if message.get("benchmarkId") == benchmark_id:
                found.append((stamp, message))
        seen = len(messages)
        return len(found) >= count

    topic_timestamps(settings, topic, done=done, timeout=60)
    return sorted(found, key=lambda pair: pair[0])


def outputs_of(settings: Settings, benchmark_id: str, samples: int, *, timeout: float) -> list[tuple[float, int]]:
    """(Kafka timestamp, samples) of each outputs message of `benchmark_id`, in time order, once
    they hold `samples` samples."""
    found: list[tuple[float, int]] = []
    seen = 0

    def done(messages: list[tuple[float, bytes]]) -> bool:
        nonlocal seen
        for stamp, value in messages[seen:]:
            outputs = json.loads(value)
            if outputs.get("benchmarkId") == benchmark_id:
                found.append((stamp, len(outputs["outputs"])))
        seen = len(messages)
        return sum(count for _, count in found) >= samples

    topic_timestamps(settings, topics.BENCHMARKS_OUTPUTS, done=done, timeout=timeout)
    return sorted(found)


# --------------------------------------------------------------------------- scorer


def rouge_load(messages: int, tokens: int, seed: int) -> list[bytes]:
    """`messages` ModelOutputs of long summaries, serialized (the bench spends no CPU on it while timing)."""
    rng = random.Random(seed)
    pairs = make_pairs(messages * SAMPLES_PER_MESSAGE, tokens, rng)
    return [
        ModelOutputs(
            tenant="team-a",
            benchmark_id="bm_scale_out",
            model="model",
            task="summaries",
            task_type="summarization",
            metrics=ROUGE,
            shard=shard,
            outputs=[
                SampleOutput(sample_id=f"{shard}-{i}", prediction=prediction, references=[reference], latency_ms=1.0)
                for i, (prediction, reference) in enumerate(
                    pairs[shard * SAMPLES_PER_MESSAGE : (shard + 1) * SAMPLES_PER_MESSAGE]
                )
            ],
        ).to_wire()
        for shard in range(messages)
    ]


async def produce(settings: Settings, load: list[bytes]) -> None:
    """Round-robin over the partitions (not by key), so that every replica gets as much work."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=2**20)
    await producer.start()
    try:
        name = settings.topic_prefix + topics.BENCHMARKS_OUTPUTS
        sent = [await producer.send(name, wire, partition=i % settings.partitions) for i, wire in enumerate(load)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def in_process_rate(load: list[bytes]) -> float:
    """Samples a second one core scores the first few messages at, parsing included (CPU time, no Kafka)."""
    some = load[:8]
    started = time.process_time()
    for wire in some:
        score_outputs(ModelOutputs.model_validate_json(wire)).to_wire()
    return len(some) * SAMPLES_PER_MESSAGE / (time.process_time() - started)


def kafka_process() -> dict[str, int]:
    """{"Kafka": pid} of the broker scripts/services.sh started, when its pid file is where the
    script keeps it; else {}."""
    state = Path(os.environ.get("BENCH_SERVICES_STATE", "/tmp/benchmarks-services"))
    try:
        return {"Kafka": int((state / "kafka.pid").read_text().strip())}
    except (OSError, ValueError):
        return {}


def measure_scorer(replicas: int, args: argparse.Namespace, load: list[bytes]) -> Measured:
    settings = bench_settings("scale-scorer")
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-scorer-"))
    deployment = Deployment(settings, workdir)
    try:
        asyncio.run(ensure_topics(settings))
        scorers = deployment.start("scorer", replicas=replicas)
        wait_group_stable(settings, "benchmarks-scorer", members=replicas)
        usage = CpuUsage({f"scorer {i}": s.process.pid for i, s in enumerate(scorers)} | kafka_process())
        start = time.time()
        asyncio.run(produce(settings, load))
        wait_until(
            f"{len(load)} scores messages",
            lambda: messages_in(settings, topics.BENCHMARKS_SCORES) >= len(load),
            timeout=len(load) * SAMPLES_PER_MESSAGE / 50 + 60,  # at 50 samples/s, a quarter of the slowest seen
            interval=0.5,
        )
        cores = usage.cores()
        scorer_cpu = sum(usage.seconds(f"scorer {i}") for i in range(replicas))
        scores = topic_timestamps(settings, topics.BENCHMARKS_SCORES, done=lambda m: len(m) >= len(load), timeout=60)
    except BaseException:
        print_logs(deployment)
        raise
    finally:
        deployment.stop()
        deployment.delete_data()
        shutil.rmtree(workdir, ignore_errors=True)
    samples = len(load) * SAMPLES_PER_MESSAGE
    seconds = max(stamp for stamp, _ in scores) - start
    return Measured(
        replicas,
        samples / seconds,
        f"{samples} samples in {seconds:.1f}s from the first output produced to the last score;"
        f" cores busy: {cores}; {samples / scorer_cpu:.0f} samples per scorer CPU second",
    )


# --------------------------------------------------------------------------- both


def print_logs(deployment: Deployment) -> None:
    for service in deployment.started:
        print(f"----- {service.name} ({service.log_path}) -----\n{service.log_tail()}", file=sys.stderr)


def compare(measure: Callable[[int], Measured], *, rounds: int, target: float) -> None:
    """1 then 2 replicas, `rounds` times; the ratio of the medians against `target`."""
    results: dict[int, list[Measured]] = {1: [], 2: []}
    for _ in range(rounds):
        for replicas in (1, 2):
            measured = measure(replicas)
            results[replicas].append(measured)
            print(
                f"  {replicas} replica{'s' if replicas > 1 else ' '}: {measured.rate:7.1f} samples/s  ({measured.detail})",
                flush=True,
            )
    one, two = (median(m.rate for m in results[n]) for n in (1, 2))
    print(
        f"median: 1 replica {one:.1f}/s, 2 replicas {two:.1f}/s: {two / one:.2f}x; target >= {target}x"
        f"  {'PASS' if two >= target * one else 'FAIL'}"
    )
    if all(m.overall is not None for m in results[1] + results[2]):
        one, two = (median(m.overall or 0.0 for m in results[n]) for n in (1, 2))
        print(f"  with the fixed costs (from POST): 1 replica {one:.1f}/s, 2 replicas {two:.1f}/s: {two / one:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["runner", "scorer"], required=True)
    parser.add_argument("--rounds", type=int, default=1, help="1-then-2 rounds; the medians are compared")
    runner = parser.add_argument_group("runner")
    runner.add_argument("--latency-ms", type=float, default=50.0, help="the fake model's answer time L")
    runner.add_argument("--concurrency", type=int, default=8, help="C in the spec's limits (per runner process)")
    runner.add_argument("--samples", type=int, default=4800)
    scorer = parser.add_argument_group("scorer")
    scorer.add_argument("--messages", type=int, default=240, help=f"ModelOutputs of {SAMPLES_PER_MESSAGE} samples each")
    scorer.add_argument("--tokens", type=int, default=600, help="tokens of each prediction and reference")
    scorer.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # NotLeaderForPartition retries right after a topic is created

    if args.stage == "runner":
        print(f"runner stage: fake model at L={args.latency_ms:g} ms, C={args.concurrency} per runner, {args.samples} samples")
        compare(lambda replicas: measure_runner(replicas, args), rounds=args.rounds, target=1.8)
    else:
        load = rouge_load(args.messages, args.tokens, args.seed)
        print(
            f"scorer stage: {args.messages} x {SAMPLES_PER_MESSAGE} samples of ~{args.tokens} tokens, {len(ROUGE)} ROUGE"
            f" variants; one core in this process, no Kafka: {in_process_rate(load):.0f} samples/s"
        )
        compare(lambda replicas: measure_scorer(replicas, args, load), rounds=args.rounds, target=1.7)


if __name__ == "__main__":
    main()
