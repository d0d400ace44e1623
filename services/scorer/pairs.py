"""Scoring prediction/reference pairs produced elsewhere (`benchmarks score`).

The input is JSON Lines: one object per line with `prediction` (a string) and either
`references` (a non-empty list of strings) or `reference` (a string), and optionally `id`
(a string or an integer). Blank lines are skipped. The whole input is checked before anything is
scored, and the first problem stops it with the line, the field and the reason, e.g.
`pairs.jsonl line 3: field 'prediction': expected a string, got a number`.

Each pair gets every chosen metric, computed as the scorer stage computes it; the summary
aggregates them as reports do (mean or corpus statistic, with a seeded bootstrap 95% interval).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import InvalidInput, UnknownMetric
from shared.jsonl import json_objects, json_type
from shared.metrics.aggregation import aggregate_with_ci
from shared.metrics.base import Metric, MetricValue
from shared.metrics.registry import get_metric
from shared.statistics import MeanWithCI, bootstrap_picks

__all__ = [
    "Pair",
    "ScoredPair",
    "clear_caches",
    "means_with_ci",
    "parse_metric_names",
    "parse_pairs",
    "read_pairs",
    "score_pair",
    "summarize",
]

STDIN = "-"


@dataclass(frozen=True, slots=True)
class Pair:
    line: int
    prediction: str
    references: list[str]
    id: str | int | None = None


@dataclass(frozen=True, slots=True)
class ScoredPair:
    pair: Pair
    values: dict[str, MetricValue]

    def row(self) -> dict[str, Any]:
        """The pair's output line: where it came from, every metric's value, and their details."""
        row: dict[str, Any] = {"line": self.pair.line}
        if self.pair.id is not None:
            row["id"] = self.pair.id
        row["scores"] = {name: value.value for name, value in self.values.items()}
        details = {name: value.details for name, value in self.values.items() if value.details}
        if details:
            row["details"] = details
        return row

    def line(self) -> str:
        """`row()` as a line of JSON, exactly as json.dumps(row, ensure_ascii=False) writes it,
        built from a template per shape of row and remembered float texts: json.dumps per pair
        cost more than all the rest of `benchmarks score` but the scoring, mostly in float reprs
        (ROUGE's values are ratios of small counts, which recur)."""
        metrics = self.values.values()
        numbers = [value.value for value in metrics]
        for value in metrics:
            numbers += value.details.values()
        texts = _FLOAT_TEXT
        return _template((tuple(self.values), *[tuple(value.details) for value in metrics])) % (
            self.pair.line,
            "" if self.pair.id is None else f", {_ID_KEY}: {_dumps(self.pair.id)}",
            *[texts[number] if number.__class__ is float else _dumps(number) for number in numbers],
        )


_dumps = json.JSONEncoder(ensure_ascii=False).encode
"""json.dumps(value, ensure_ascii=False), without its per-call set-up."""
_ID_KEY = _dumps("id")


@cache  # few shapes: one per set of metrics and their details' names
def _template(shape: tuple[tuple[str, ...], ...]) -> str:
    """The %-template of a row whose metrics are shape[0] and whose details' fields are the rest:
    the line number, the id part, then every metric's value, then every detail's value."""
    names, *fields = shape

    def key(text: str) -> str:
        return _dumps(text).replace("%", "%%")

    scores = ", ".join(f"{key(name)}: %s" for name in names)
    details = ", ".join(
        f"{key(name)}: {{{', '.join(f'{key(field)}: %s' for field in keys)}}}"
        for name, keys in zip(names, fields, strict=True)
        if keys
    )
    return '{"line": %d%s, "scores": {' + scores + "}" + (f', "details": {{{details}}}' if details else "") + "}\n"


class _FloatText(dict[float, str]):
    """float -> its text in JSON, as json.dumps writes it. Zeros are not kept (0.0 == -0.0 as
    keys), nor NaN and the infinities; past 100,000 values it starts afresh."""

    def __missing__(self, value: float) -> str:
        if not (value and math.isfinite(value)):
            return _dumps(value)
        if len(self) >= 100_000:
            self.clear()
        text = self[value] = float.__repr__(value)
        return text


_FLOAT_TEXT = _FloatText()


def clear_caches() -> None:
    """Forget the remembered float texts (for measurements: they never change a line)."""
    _FLOAT_TEXT.clear()


def parse_metric_names(names: str, *, stemming: bool = True) -> list[Metric]:
    """`rouge-1,rouge-l` -> the metrics, in that order; unknown or repeated names are errors."""
    chosen: list[Metric] = []
    for name in (part.strip() for part in names.split(",")):
        if not name:
            continue
        try:
            metric = get_metric(name, stemming=stemming)
        except UnknownMetric as exc:
            raise UnknownMetric(f"--metrics: {exc}") from None
        if any(known.name == metric.name for known in chosen):
            raise InvalidInput(f"--metrics: {name!r} is listed twice")
        chosen.append(metric)
    if not chosen:
        raise InvalidInput("--metrics: no metric given")
    return chosen


def read_pairs(path: Path) -> list[Pair]:
    """The pairs of a JSONL file, or of standard input for `-`."""
    source = "<stdin>" if str(path) == STDIN else str(path)
    try:
        text = sys.stdin.read() if str(path) == STDIN else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot read the pairs: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{source}: not UTF-8 text") from None
    return parse_pairs(text, source=source)


def parse_pairs(text: str, *, source: str) -> list[Pair]:
    # Lines end at "\n" only: str.splitlines would also split inside JSON strings holding U+2028
    pairs = [parse_pair(record, line_number=number, where=where) for number, where, record in json_objects(text, location=source)]
    if not pairs:
        raise InvalidInput(f"{source}: no pairs (one JSON object per line with 'prediction' and 'references')")
    return pairs


def parse_pair(record: dict[str, Any], *, line_number: int, where: str) -> Pair:
    if "prediction" not in record:
        raise InvalidInput(f"{where}: field 'prediction': missing")
    prediction = record["prediction"]
    if not isinstance(prediction, str):
        raise InvalidInput(f"{where}: field 'prediction': expected a string, got {json_type(prediction)}")

    if "references" in record and "reference" in record:
        raise InvalidInput(f"{where}: fields 'references' and 'reference': give one of them, not both")
    if "reference" in record:
        reference = record["reference"]
        if not isinstance(reference, str):
            raise InvalidInput(f"{where}: field 'reference': expected a string, got {json_type(reference)}")
        references = [reference]
    elif "references" in record:
        references = _references(record["references"], where=where)
    else:
        raise InvalidInput(f"{where}: field 'references': missing (a list of strings, or 'reference': a string)")

    pair_id = record.get("id")
    if pair_id is not None and (isinstance(pair_id, bool) or not isinstance(pair_id, str | int)):
        raise InvalidInput(f"{where}: field 'id': expected a string or an integer, got {json_type(pair_id)}")
    return Pair(line=line_number, prediction=prediction, references=references, id=pair_id)


def _references(value: object, *, where: str) -> list[str]:
    if not isinstance(value, list):
        hint = " (use 'reference' for a single string)" if isinstance(value, str) else ""
        raise InvalidInput(f"{where}: field 'references': expected a list of strings, got {json_type(value)}{hint}")
    if not value:
        raise InvalidInput(f"{where}: field 'references': empty list: give at least one reference")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidInput(f"{where}: field 'references[{index}]': expected a string, got {json_type(item)}")
    return list(value)


def score_pair(pair: Pair, metrics: Sequence[Metric]) -> ScoredPair:
    return ScoredPair(pair, {metric.name: metric.compute(pair.prediction, pair.references) for metric in metrics})


def summarize(scored: Sequence[ScoredPair], metrics: Sequence[Metric], *, seed: int, resamples: int) -> dict[str, Any]:
    """The summary line: per metric the corpus value and its bootstrap 95% interval, as in reports."""
    means = [metric for metric in metrics if metric.corpus is None]
    cis = dict(
        zip(
            [metric.name for metric in means],
            means_with_ci(
                [[pair.values[metric.name].value for pair in scored] for metric in means], seed=seed, resamples=resamples
            ),
            strict=True,
        )
    )
    summary = {}
    for metric in metrics:
        if (ci := cis.get(metric.name)) is None:
            values = [pair.values[metric.name] for pair in scored]
            ci = aggregate_with_ci(metric, [v.value for v in values], [v.details for v in values], seed=seed, resamples=resamples)
        summary[metric.name] = {"value": ci.mean, "ciLow": ci.ci_low, "ciHigh": ci.ci_high, "n": ci.n}
    return {"summary": summary}


def means_with_ci(columns: Sequence[Sequence[float]], *, seed: int, resamples: int, level: float = 0.95) -> list[MeanWithCI]:
    """shared.statistics.mean_with_ci of each column (all of the same length), the same numbers
    bit for bit, with the resamples drawn once for all: with the same seed and length every
    column's bootstrap picks the same rows, and drawing them is most of a bootstrap's cost."""
    if not columns:
        return []
    data = np.asarray(columns, dtype=float).reshape(len(columns), -1)
    n = data.shape[1]
    if n < 2:
        means = [float(row.mean()) if n else None for row in data]
        return [MeanWithCI(mean=mean, ci_low=mean, ci_high=mean, n=n) for mean in means]
    resampled: list[list[np.ndarray]] = [[] for _ in columns]
    for picks in bootstrap_picks(np.random.default_rng(seed), n, resamples):
        for row, chunks in zip(data, resampled, strict=True):
            chunks.append(row[picks].mean(axis=1))
    tail = (1.0 - level) / 2 * 100
    cis = []
    for row, chunks in zip(data, resampled, strict=True):
        low, high = np.percentile(np.concatenate(chunks), [tail, 100 - tail])
        cis.append(MeanWithCI(mean=float(row.mean()), ci_low=float(low), ci_high=float(high), n=n))
    return cis
