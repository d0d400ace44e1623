"""Scoring pairs produced elsewhere: parsing with clear errors, per-pair values, the summary."""

from __future__ import annotations

import json

import pytest
from rouge_score.rouge_scorer import RougeScorer

from services.scorer.pairs import parse_metric_names, parse_pairs, score_pair, summarize
from shared.errors import InvalidInput, UnknownMetric


def _lines(*records: object) -> str:
    return "\n".join(record if isinstance(record, str) else json.dumps(record) for record in records)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_lines({"prediction": 3, "reference": "x"}), "pairs.jsonl line 1: field 'prediction': expected a string, got a number"),
        (_lines({"reference": "x"}), "pairs.jsonl line 1: field 'prediction': missing"),
        (
            _lines({"prediction": "p", "reference": "r"}, {"prediction": "p"}),
            "pairs.jsonl line 2: field 'references': missing (a list of strings, or 'reference': a string)",
        ),
        (
            _lines({"prediction": "p", "references": []}),
            "pairs.jsonl line 1: field 'references': empty list: give at least one reference",
        ),
        (
            _lines({"prediction": "p", "references": ["a", None]}),
            "pairs.jsonl line 1: field 'references[1]': expected a string, got null",
        ),
        (
            _lines({"prediction": "p", "references": "a"}),
            "pairs.jsonl line 1: field 'references': expected a list of strings, got a string"
            " (use 'reference' for a single string)",
        ),
        (_lines({"prediction": "p", "reference": ["a"]}), "pairs.jsonl line 1: field 'reference': expected a string, got a list"),
        (
            _lines({"prediction": "p", "reference": "a", "references": ["b"]}),
            "pairs.jsonl line 1: fields 'references' and 'reference': give one of them, not both",
        ),
        (
            _lines({"prediction": "p", "reference": "a", "id": True}),
            "pairs.jsonl line 1: field 'id': expected a string or an integer, got a boolean",
        ),
        (
            _lines({"prediction": "p", "reference": "a"}, "", "{not json"),
            "pairs.jsonl line 3: not valid JSON: Expecting property name enclosed in double quotes",
        ),
        (_lines(["p", "r"]), "pairs.jsonl line 1: expected a JSON object, got a list"),
        ("\n  \n", "pairs.jsonl: no pairs (one JSON object per line with 'prediction' and 'references')"),
    ],
)
def test_bad_input_names_the_line_and_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pairs(text, source="pairs.jsonl")
    assert str(caught.value) == message


def test_pairs_keep_their_line_id_and_references() -> None:
    text = _lines(
        {"id": "a", "prediction": "p", "references": ["r1", "r2"]}, "", {"prediction": "q\u2028r", "reference": "s", "id": 7}
    )
    first, second = parse_pairs(text, source="x")
    assert (first.line, first.id, first.references) == (1, "a", ["r1", "r2"])
    assert (second.line, second.id, second.prediction, second.references) == (3, 7, "q\u2028r", ["s"])


def test_metric_names_are_checked() -> None:
    assert [m.name for m in parse_metric_names(" rouge-1, bleu ,")] == ["rouge-1", "bleu"]
    with pytest.raises(UnknownMetric, match=r"^--metrics: unknown metric 'rouge1' \(did you mean 'rouge-1'\?\); available: "):
        parse_metric_names("rouge1")
    with pytest.raises(InvalidInput, match=r"^--metrics: 'bleu' is listed twice$"):
        parse_metric_names("bleu,rouge-l,bleu")
    with pytest.raises(InvalidInput, match=r"^--metrics: no metric given$"):
        parse_metric_names(" , ")


def test_each_pair_gets_every_metric_as_the_reference_implementations_compute_it() -> None:
    (pair,) = parse_pairs(
        _lines({"id": 1, "prediction": "The cats ran home.", "references": ["a cat runs home", "dogs"]}), source="x"
    )
    scored = score_pair(pair, parse_metric_names("rouge-1,rouge-lsum,exact-match"))
    row = scored.row()
    expected = RougeScorer(["rouge1", "rougeLsum"], use_stemmer=True).score_multi(pair.references, pair.prediction)
    assert row["line"] == 1 and row["id"] == 1
    assert row["scores"] == {
        "rouge-1": expected["rouge1"].fmeasure,
        "rouge-lsum": expected["rougeLsum"].fmeasure,
        "exact-match": 0.0,
    }
    assert row["details"]["rouge-1"] == {"precision": expected["rouge1"].precision, "recall": expected["rouge1"].recall}
    assert "exact-match" not in row["details"]


def test_an_empty_prediction_scores_zero_on_every_metric() -> None:
    (pair,) = parse_pairs(_lines({"prediction": "", "reference": "a reference text"}), source="x")
    scored = score_pair(pair, parse_metric_names("rouge-1,rouge-2,rouge-l,rouge-lsum,bleu,exact-match,f1-score,accuracy"))
    assert set(scored.row()["scores"].values()) == {0.0}


def test_the_summary_aggregates_as_reports_do() -> None:
    text = _lines(*({"prediction": f"answer {i}", "reference": f"answer {i % 3}"} for i in range(12)))
    metrics = parse_metric_names("exact-match,bleu")
    scored = [score_pair(pair, metrics) for pair in parse_pairs(text, source="x")]
    summary = summarize(scored, metrics, seed=0, resamples=200)["summary"]
    assert summary["exact-match"]["value"] == pytest.approx(
        100 * 3 / 12
    )  # i == i % 3 for i in 0, 1, 2 and summary["exact-match"]["n"] == 12
    for stats in summary.values():
        assert stats["ciLow"] <= stats["value"] <= stats["ciHigh"]
    assert summarize(scored, metrics, seed=0, resamples=200) == {"summary": summary}


@pytest.mark.parametrize(
    "pair_id", [None, 7, -3, "s1", 'quote " and \\ backslash', "naïve ☃ \u2028 line", "\x00\x1f", "100% %s %d"]
)
def test_a_pairs_line_is_exactly_json_dumps_of_its_row(pair_id: object) -> None:
    from services.scorer.pairs import Pair, ScoredPair
    from shared.metrics.base import MetricValue

    values = {
        "rouge-1": MetricValue(1 / 3, {"precision": 0.1 + 0.2, "recall": 2 / 7}),
        "exact-match": MetricValue(100.0),  # no details
        "zeros": MetricValue(0.0, {"precision": -0.0, "recall": 0.0}),
        "odd": MetricValue(float("nan"), {"inf": float("inf"), "-inf": float("-inf"), "int": 3, "tiny": 5e-324}),
        'big é "name" 50%': MetricValue(1e22, {"x %s": 1e16, "y": 123456789.125}),
    }
    for chosen in (values, {"exact-match": values["exact-match"]}, {}):
        scored = ScoredPair(Pair(line=12, prediction="p", references=["r"], id=pair_id), chosen)
        for _ in range(2):  # the second time from the remembered float texts
            assert scored.line() == json.dumps(scored.row(), ensure_ascii=False) + "\n"


@pytest.mark.parametrize(("n", "resamples"), [(0, 100), (1, 100), (2, 100), (37, 1000), (5_000, 450)])
def test_means_drawn_together_are_each_metrics_mean_with_ci_bit_for_bit(n: int, resamples: int) -> None:
    import random

    from services.scorer.pairs import means_with_ci
    from shared.statistics import mean_with_ci

    rng = random.Random(n)
    columns = [[rng.random() for _ in range(n)], [rng.choice([0.0, 1 / 3, 1.0]) for _ in range(n)], [0.5] * n]
    # 5,000 samples: the picks come in chunks of 200 resamples, the last one partial
    expected = [mean_with_ci(column, seed=11, resamples=resamples) for column in columns]
    assert means_with_ci(columns, seed=11, resamples=resamples) == expected
    assert means_with_ci([], seed=11, resamples=resamples) == []
