"""ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum, numerically identical to `rouge-score`'s RougeScorer.

Same tokens (rouge_tokens), same counts and LCS alignments (rouge_index), and the same float formulas in the
same order as `rouge_score.rouge_scorer` and `rouge_score.scoring.fmeasure`, so the numbers are
bit-identical. Stemming is on by default (as in most published ROUGE numbers); `stemming=False`
is RougeScorer(use_stemmer=False). With several references each variant takes the reference with
the highest F-measure, the first one on ties, as `RougeScorer.score_multi` does. ROUGE-Lsum reads
summaries as newline-separated sentences (rouge-score's default, `split_summaries=False`).

The four variants are computed together and cached per (prediction, references, stemming), so
the registry's four ROUGE metrics cost about one computation per sample; texts are analysed
once and cached too, which pays off when several models are scored against the same references.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple

from shared.metrics import rouge_tokens
from shared.metrics.base import Metric, MetricValue
from shared.metrics.rouge_index import ReferenceIndex, Text, analysed

__all__ = ["METRICS", "ROUGE_TYPES", "RougeScore", "clear_caches", "metrics", "rouge_scores"]

ROUGE_TYPES = {"rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-l": "rougeL", "rouge-lsum": "rougeLsum"}
"""Our metric names -> rouge-score's names for the same measures."""


class RougeScore(NamedTuple):
    precision: float
    recall: float
    fmeasure: float


def rouge_scores(prediction: str, references: Sequence[str], *, stemming: bool = True) -> dict[str, RougeScore]:
    """All four variants (keys: ROUGE_TYPES' names), each from its best reference."""
    if not references:
        raise ValueError("ROUGE needs at least one reference")
    return dict(_best_scores(prediction, tuple(references), stemming))  # a copy: the cached one stays intact


@lru_cache(maxsize=256)
def _best_scores(prediction: str, references: tuple[str, ...], stemming: bool) -> dict[str, RougeScore]:
    if rouge_tokens.reset_if_full():  # codes start again: texts coded before must not meet new ones
        _analyse.cache_clear()
        _reference_index.cache_clear()
    candidate = _analyse(prediction, stemming)
    per_reference = [_scores(candidate, reference, stemming) for reference in references]
    best = per_reference[0]
    for scores in per_reference[1:]:
        # a later reference wins only with a higher F-measure, as score_multi's np.argmax does
        best = tuple(new if new[2] > old[2] else old for old, new in zip(best, scores, strict=True))
    return {name: RougeScore(*score) for name, score in zip(ROUGE_TYPES, best, strict=True)}


@lru_cache(maxsize=1024)
def _analyse(text: str, stemming: bool) -> Text:
    return analysed(rouge_tokens.line_tokens(text, stemming=stemming))


@lru_cache(maxsize=1024)
def _reference_index(text: str, stemming: bool) -> ReferenceIndex:
    return ReferenceIndex(_analyse(text, stemming))


_Score = tuple[float, float, float]
_ZERO: _Score = (0.0, 0.0, 0.0)


def _scores(candidate: Text, reference_text: str, stemming: bool) -> tuple[_Score, ...]:
    """(precision, recall, F-measure) of rouge-1, rouge-2, rouge-l and rouge-lsum against one reference."""
    index = _reference_index(reference_text, stemming)
    reference = index.text
    m, n = len(reference.tokens), len(candidate.tokens)
    # One sentence each: the union LCS is one LCS, whose tokens the candidate always has, so
    # rouge-score's hits are the LCS length and ROUGE-Lsum is ROUGE-L, bit for bit.
    union_lcs = len(reference.sentences) > 1 or len(candidate.sentences) > 1
    overlaps = index.compare(candidate, union_lcs=union_lcs)
    # rouge_scorer._score_ngrams divides by the n-gram counts, at least 1
    rouge_1 = _score(overlaps.unigrams, max(n, 1), max(m, 1))
    rouge_2 = _score(overlaps.bigrams, max(n - 1, 1), max(m - 1, 1))
    if not m or not n:  # rouge_scorer._score_lcs and _summary_level_lcs: 0 without tokens
        return rouge_1, rouge_2, _ZERO, _ZERO
    rouge_l = _score(overlaps.lcs, n, m)
    if overlaps.summary_hits is None:
        return rouge_1, rouge_2, rouge_l, rouge_l
    return rouge_1, rouge_2, rouge_l, _score(overlaps.summary_hits, n, m)


def _score(overlap: int, prediction_count: int, target_count: int) -> _Score:
    precision = overlap / prediction_count
    recall = overlap / target_count
    # rouge_score.scoring.fmeasure, the same operations in the same order
    if precision + recall > 0:
        return precision, recall, 2 * precision * recall / (precision + recall)
    return precision, recall, 0.0


def clear_caches(*, keep_stems: bool = False) -> None:
    """Forget every cached text and score, and the stems unless kept (for measurements: the
    caches never change a result)."""
    for cached in (_best_scores, _analyse, _reference_index):
        cached.cache_clear()
    if not keep_stems:
        rouge_tokens.clear_caches()  # the codes too: nothing cached above may outlive them


def metrics(*, stemming: bool = True) -> tuple[Metric, ...]:
    """The four ROUGE metrics; `stemming=False` gives rouge-score's use_stemmer=False numbers."""
    stemmed = "stemmed" if stemming else "not stemmed"
    return tuple(
        Metric(
            name=name,
            compute=_compute(name, stemming),
            scale=1.0,
            description=f"{rouge_type} F-measure, as rouge-score ({stemmed}); precision and recall in details",
        )
        for name, rouge_type in ROUGE_TYPES.items()
    )


def _compute(name: str, stemming: bool) -> Callable[[str, list[str]], MetricValue]:
    def compute(prediction: str, references: list[str]) -> MetricValue:
        if not references:
            raise ValueError("ROUGE needs at least one reference")
        precision, recall, fmeasure = _best_scores(prediction, tuple(references), stemming)[name]
        return MetricValue(fmeasure, {"precision": precision, "recall": recall})

    return compute


METRICS = metrics(stemming=True)
