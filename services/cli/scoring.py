"""`benchmarks score`: score predictions produced elsewhere, offline (no store, no servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.render import print_json_line
from shared.settings import Settings

__all__ = ["score"]


def score(
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            metavar="PAIRS.JSONL",
            help="One JSON object per line: prediction, references (or reference), optional id; - reads standard input.",
        ),
    ],
    metrics: Annotated[str, typer.Option(help="Comma-separated metric names.")] = "rouge-1,rouge-2,rouge-l,rouge-lsum",
    stemming: Annotated[
        bool, typer.Option("--stemming/--no-stemming", help="Porter stemming for ROUGE (rouge-score's use_stemmer).")
    ] = True,
) -> None:
    """Score predictions produced elsewhere: a JSON line per pair with every metric, then a summary line."""
    from services.scorer.pairs import parse_metric_names, read_pairs, score_pair, summarize

    settings = Settings()
    chosen = parse_metric_names(metrics, stemming=stemming)
    pairs = read_pairs(input_path)
    scored = []
    for pair in pairs:
        scored.append(score_pair(pair, chosen))
        print_json_line(scored[-1].row())
    summary = summarize(scored, chosen, seed=settings.bootstrap_seed, resamples=settings.bootstrap_resamples)
    print_json_line(summary)
