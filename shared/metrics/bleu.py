"""BLEU exactly as sacrebleu computes it: `BLEU().corpus_score(predictions, references).score`.

BLEU is a corpus statistic, not a mean of sentence scores: n-gram matches and lengths are summed
over the corpus first. So each sample keeps sacrebleu's own sufficient statistics in its details
(hypothesis and closest-reference lengths, matched and total n-grams per order), and the corpus
value is sacrebleu's `compute_bleu` over their sums with `BLEU()`'s defaults (13a tokenizer, no
lower-casing, exp smoothing, 4-grams) - the same numbers corpus_score adds up. A sample may have
any number of references; this equals corpus_score with `None` for a sample's missing references
(sacrebleu drops them, as its docs describe). A sample's own value, for display, is sentence BLEU
(`sacrebleu.sentence_bleu`: effective order), 0..100.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from shared.metrics.base import CorpusStatistic, Metric, MetricValue

if TYPE_CHECKING:
    from sacrebleu.metrics import BLEU

__all__ = ["FIELDS", "METRICS", "corpus_bleu"]

_ORDER = 4  # BLEU()'s max_ngram_order; checked against sacrebleu in corpus_bleu
FIELDS = (
    "sysLen",
    "refLen",
    *(f"correct{n}" for n in range(1, _ORDER + 1)),
    *(f"total{n}" for n in range(1, _ORDER + 1)),
)
"""The per-sample details, in sacrebleu's statistics order: [hyp_len, ref_len, correct..., total...]."""


@cache
def _corpus_scorer() -> BLEU:
    from sacrebleu.metrics import BLEU  # imported on first use: sacrebleu takes a while to import

    scorer = BLEU()
    if scorer.max_ngram_order != _ORDER:
        raise RuntimeError(f"sacrebleu's default BLEU order is {scorer.max_ngram_order}, not {_ORDER}")
    return scorer


@cache
def _sentence_scorer() -> BLEU:
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True)  # what sacrebleu.sentence_bleu uses


def _bleu(prediction: str, references: list[str]) -> MetricValue:
    if not references:
        raise ValueError("BLEU needs at least one reference")
    score = _sentence_scorer().sentence_score(prediction, references)
    stats = [score.sys_len, score.ref_len, *score.counts, *score.totals]
    return MetricValue(float(score.score), {name: float(value) for name, value in zip(FIELDS, stats, strict=True)})


def corpus_bleu(totals: Sequence[float]) -> float:
    """sacrebleu's corpus BLEU from the summed FIELDS."""
    scorer = _corpus_scorer()
    counts = [int(value) for value in totals]
    return scorer.compute_bleu(
        correct=counts[2 : 2 + _ORDER],
        total=counts[2 + _ORDER :],
        sys_len=counts[0],
        ref_len=counts[1],
        smooth_method=scorer.smooth_method,
        smooth_value=scorer.smooth_value,
        effective_order=scorer.effective_order,
        max_ngram_order=scorer.max_ngram_order,
    ).score


METRICS = (
    Metric(
        name="bleu",
        compute=_bleu,
        scale=100.0,
        corpus=CorpusStatistic(fields=FIELDS, compute=corpus_bleu),
        description="corpus BLEU as sacrebleu's BLEU() computes it, 0..100; a sample's value is its sentence BLEU",
    ),
)
