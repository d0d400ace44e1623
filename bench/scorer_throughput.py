"""ROUGE scoring throughput: rouge-score's RougeScorer against the scorer's metrics, same pairs.

    .venv/bin/python bench/scorer_throughput.py [--short-pairs 1000] [--long-pairs 20] [--repeat 3]

Both compute the four variants (rouge-1, rouge-2, rouge-l, rouge-lsum) of every pair with
stemming on, on one core: rouge-score with one RougeScorer for all four types (its fastest use),
ours through the metric registry exactly as the scorer stage calls it, four metrics per sample.
"cold": every cache of ours emptied before the run, so it stems each word of the run anew, as a
fresh process does; "warm": the words' stems already known (a scorer that has seen the dataset's
vocabulary before, e.g. an earlier model or run), every other cache emptied. Times are CPU time of
this process (time.process_time), so other work on the machine does not count against either;
each figure is the best of --repeat runs, the runs of both interleaved. The numbers of both are
compared on every pair and must be identical.

"end to end" (short pairs): what `benchmarks score --input PAIRS.JSONL` does in-process (the
CLI's own function: read and check the JSONL file, score every pair, write a JSON line per pair
with every metric and its details, then the summary line with bootstrap intervals) against
rouge-score doing the same reading, scoring and writing in a plain loop (json.loads per line,
score_multi, json.dumps per line, no summary), both writing to a file; cold caches, as a fresh
CLI process has. The per-pair lines of both are compared and must hold the same numbers.

Texts are newline-separated sentences of 8-25 consecutive words from the example documents
(real English with punctuation, digits and names); about 60 tokens (short) or 600 (long). A
prediction keeps about half of its reference's sentences, some words dropped, and fills up with
other sentences, as an extractive summary would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rouge_score.rouge_scorer import RougeScorer

from shared.metrics import rouge
from shared.metrics.registry import get_metric

CORPUS = Path(__file__).resolve().parent.parent / "examples" / "data" / "summarization.jsonl"

Pair = tuple[str, str]


def make_pairs(count: int, tokens: int, rng: random.Random) -> list[Pair]:
    words = [word for line in CORPUS.read_text().splitlines() for word in json.loads(line)["document"].split()]

    def sentence() -> list[str]:
        length = rng.randint(8, 25)
        start = rng.randrange(len(words) - length)
        return words[start : start + length]

    def text(sentences: list[list[str]]) -> str:
        return "\n".join(" ".join(s) for s in sentences)

    pairs = []
    for _ in range(count):
        reference: list[list[str]] = []
        while sum(map(len, reference)) < tokens:
            reference.append(sentence())
        prediction: list[list[str]] = []
        for kept in reference:
            if rng.random() < 0.5:
                prediction.append([word for word in kept if rng.random() > 0.15])
        while sum(map(len, prediction)) < tokens:
            prediction.insert(rng.randrange(len(prediction) + 1), sentence())
        pairs.append((text(prediction), text(reference)))
    return pairs


def rouge_score_reference(pairs: list[Pair]) -> list[tuple]:
    scorer = RougeScorer(list(rouge.ROUGE_TYPES.values()), use_stemmer=True)
    results = []
    for prediction, reference in pairs:
        scores = scorer.score_multi([reference], prediction)
        results.append(tuple(tuple(scores[t]) for t in rouge.ROUGE_TYPES.values()))
    return results


def ours_cold(pairs: list[Pair]) -> list[tuple]:
    rouge.clear_caches()
    return ours(pairs)


def ours_warm(pairs: list[Pair]) -> list[tuple]:
    rouge.clear_caches(keep_stems=True)
    return ours(pairs)


def ours(pairs: list[Pair]) -> list[tuple]:
    metrics = [get_metric(name) for name in rouge.ROUGE_TYPES]
    results = []
    for prediction, reference in pairs:
        values = [metric.compute(prediction, [reference]) for metric in metrics]
        results.append(tuple((v.details["precision"], v.details["recall"], v.value) for v in values))
    return results


def write_pairs(pairs: list[Pair], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for number, (prediction, reference) in enumerate(pairs):
            out.write(json.dumps({"id": number, "prediction": prediction, "reference": reference}) + "\n")


def rouge_score_end_to_end(pairs_path: Path, out_path: Path) -> None:
    """rouge-score in a plain loop over the file: a line of scores and details per pair."""
    scorer = RougeScorer(list(rouge.ROUGE_TYPES.values()), use_stemmer=True)
    with pairs_path.open(encoding="utf-8") as lines, out_path.open("w", encoding="utf-8") as out:
        for number, line in enumerate(lines, start=1):
            record = json.loads(line)
            scores = scorer.score_multi([record["reference"]], record["prediction"])
            row = {
                "line": number,
                "id": record["id"],
                "scores": {name: scores[t].fmeasure for name, t in rouge.ROUGE_TYPES.items()},
                "details": {
                    name: {"precision": scores[t].precision, "recall": scores[t].recall} for name, t in rouge.ROUGE_TYPES.items()
                },
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def ours_end_to_end(pairs_path: Path, out_path: Path) -> None:
    """`benchmarks score --input pairs_path` (the CLI's function, in-process), stdout to out_path."""
    from services.cli.scoring import score
    from services.scorer import pairs

    rouge.clear_caches()  # a fresh process knows no stems, and no float texts
    pairs.clear_caches()
    with out_path.open("w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
        score(input_path=pairs_path)


def end_to_end(pairs: list[Pair], repeat: int) -> tuple[float, float, bool]:
    """Best CPU seconds of rouge-score's loop and of ours over `repeat` interleaved rounds, and
    whether every per-pair line holds the same numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        pairs_path, theirs_path, ours_path = Path(tmp, "pairs.jsonl"), Path(tmp, "theirs.jsonl"), Path(tmp, "ours.jsonl")
        write_pairs(pairs, pairs_path)
        best = [float("inf"), float("inf")]
        for _ in range(repeat):
            for i, run in enumerate((rouge_score_end_to_end, ours_end_to_end)):
                start = time.process_time()
                run(pairs_path, theirs_path if i == 0 else ours_path)
                best[i] = min(best[i], time.process_time() - start)
        theirs = [json.loads(line) for line in theirs_path.read_text(encoding="utf-8").splitlines()]
        ours_lines = [json.loads(line) for line in ours_path.read_text(encoding="utf-8").splitlines()]
        identical = ours_lines[:-1] == theirs and "summary" in ours_lines[-1]
    return best[0], best[1], identical


def best_times(
    runs: list[Callable[[list[Pair]], list[tuple]]], pairs: list[Pair], repeat: int
) -> list[tuple[float, list[tuple]]]:
    """Best CPU time of each run over `repeat` rounds (one run of each per round), with its results."""
    best: list[tuple[float, list[tuple]]] = [(float("inf"), [])] * len(runs)
    for _ in range(repeat):
        for i, run in enumerate(runs):
            start = time.process_time()
            results = run(pairs)
            seconds = time.process_time() - start
            if seconds < best[i][0]:
                best[i] = (seconds, results)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short-pairs", type=int, default=1000, help="pairs of ~60-token texts")
    parser.add_argument("--long-pairs", type=int, default=20, help="pairs of ~600-token texts")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})  # one core, as the claim is per core
    ours_cold([("warm up", "imports")])  # NLTK's import is start-up, not scoring

    rng = random.Random(args.seed)
    print(f"four ROUGE variants per pair, stemming on, one core, CPU time; best of {args.repeat} runs")
    print(f"{'texts':6} {'tokens':>6} {'pairs':>6} {'rouge-score':>12} {'ours cold':>16} {'ours warm':>16}  identical")
    for label, tokens, count in (("short", 60, args.short_pairs), ("long", 600, args.long_pairs)):
        pairs = make_pairs(count, tokens, rng)
        mean_tokens = sum(len(p.split()) + len(r.split()) for p, r in pairs) / (2 * len(pairs))
        (reference, expected), (cold, got_cold), (warm, got_warm) = best_times(
            [rouge_score_reference, ours_cold, ours_warm], pairs, args.repeat
        )
        identical = all(got == expected for got in (got_cold, got_warm))
        print(
            f"{label:6} {mean_tokens:6.0f} {count:6d} {count / reference:10.1f}/s"
            f" {count / cold:9.0f}/s {reference / cold:4.0f}x {count / warm:9.0f}/s {reference / warm:4.0f}x"
            f"  {'yes' if identical else 'NO'}"
        )
    pairs = make_pairs(args.short_pairs, 60, rng)
    reference, ours_seconds, identical = end_to_end(pairs, args.repeat)
    print(
        f"end to end, short texts, {args.short_pairs} pairs (read the JSONL, score, write a line per pair; ours also"
        f" the summary line): rouge-score {args.short_pairs / reference:.1f}/s, `benchmarks score`"
        f" {args.short_pairs / ours_seconds:.0f}/s, {reference / ours_seconds:.0f}x  identical: {'yes' if identical else 'NO'}"
    )


if __name__ == "__main__":
    main()
