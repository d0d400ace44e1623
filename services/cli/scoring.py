"""`benchmarks score`: score predictions produced elsewhere, offline (no store, no servers)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from services.cli.render import print_json_line
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.metrics.base import Metric

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
    from services.scorer.pairs import parse_metric_names

    settings = Settings()
    chosen = parse_metric_names(metrics, stemming=stemming)
    with _cycle_collector_paused():
        _score_pairs(input_path, chosen, settings)


def _score_pairs(input_path: Path, chosen: list[Metric], settings: Settings) -> None:
    from services.scorer.pairs import read_pairs, score_pair, summarize

    pairs = read_pairs(input_path)
    scored = []
    write = sys.stdout.write
    for pair in pairs:
        scored.append(score_pair(pair, chosen))
        write(scored[-1].line())
    print_json_line(summarize(scored, chosen, seed=settings.bootstrap_seed, resamples=settings.bootstrap_resamples))


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Reading and scoring pairs makes no reference cycles (refcounting frees it all), yet the
    cycle collector would walk every live pair, score and cached text again and again: about a
    quarter of the run on short pairs. (Run the work in a function of its own, so that its
    objects are freed before the collector wakes up.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
