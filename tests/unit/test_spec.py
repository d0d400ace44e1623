"""Spec validation: every bad field gets one clear line naming the field and the reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shared.errors import SpecError
from shared.spec import load_spec, parse_spec


def _spec(**overrides: Any) -> dict[str, Any]:
    task = {"name": "qa", "type": "qa", "dataset": "data/qa.jsonl"}
    spec: dict[str, Any] = {"name": "demo", "models": ["builtin:lead"], "tasks": [task]}
    spec.update(overrides)
    return spec


def test_minimal_spec_fills_defaults() -> None:
    spec = parse_spec(_spec())
    task = spec.tasks[0]
    assert task.metrics == ["exact-match", "f1-score"]
    assert task.dataset.path == "data/qa.jsonl"
    assert spec.models[0].name == "lead" and spec.models[0].provider == "builtin"
    assert spec.suite_name == "demo"


def test_camel_case_and_snake_case_are_both_accepted() -> None:
    task = {"name": "qa", "type": "qa", "dataset": {"path": "x.jsonl", "idField": "qid"}}
    assert parse_spec(_spec(tasks=[task])).tasks[0].dataset.id_field == "qid"
    task["dataset"] = {"path": "x.jsonl", "id_field": "qid"}
    assert parse_spec(_spec(tasks=[task])).tasks[0].dataset.id_field == "qid"


def test_url_dataset_is_recognised() -> None:
    task = {"name": "qa", "type": "qa", "dataset": "https://example.org/qa.jsonl"}
    assert parse_spec(_spec(tasks=[task])).tasks[0].dataset.url == "https://example.org/qa.jsonl"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"models": ["builtin:lead"], "tasks": []}, "name: Field required"),
        (_spec(models="builtin:lead"), "models: Input should be a valid list"),
        (
            _spec(tasks=[{"name": "qa", "type": "qa", "dataset": "d.jsonl", "metrics": ["rouge1"]}]),
            "tasks[0].metrics: unknown metric 'rouge1' (did you mean 'rouge-1'?)",
        ),
        (
            _spec(tasks=[{"name": "t", "type": "translation", "dataset": "d.jsonl"}]),
            "tasks[0].type: Input should be 'summarization', 'qa' or 'classification'",
        ),
        (
            _spec(tasks=[{"name": "t", "type": "qa", "dataset": "d.jsonl", "limit": 0}]),
            "tasks[0].limit: Input should be greater than 0",
        ),
        (
            _spec(tasks=[{"name": "t", "type": "qa", "dataset": "d.jsonl", "limt": 3}]),
            "tasks[0].limt: Extra inputs are not permitted",
        ),
        (
            _spec(tasks=[{"name": "t", "type": "qa", "dataset": "d.jsonl", "prompt": {"template": "{query}"}}]),
            "unknown placeholder {query}",
        ),
        (_spec(models=["builtin:gpt-5"]), "models[0]: unknown built-in model 'gpt-5'; available: extractive, lead"),
        (
            _spec(models=[{"name": "lead", "provider": "builtin", "baseUrl": "http://127.0.0.1:9/v1"}]),
            "models[0]: 'lead' is a built-in model: it has no endpoint ('baseUrl')",
        ),
        (_spec(models=["lead"]), "write a model as 'provider:model'"),
        (_spec(models=["builtin:lead", "builtin:lead"]), "models: the name 'lead' appears twice"),
        (_spec(tasks=[{"name": "model", "type": "qa", "dataset": "d.jsonl"}]), "tasks[0].name: 'model' is reserved"),
        (
            _spec(tasks=[{"name": "t", "type": "qa", "dataset": {"path": "a", "url": "https://b"}}]),
            "tasks[0].dataset: give exactly one of 'path', 'url' or 'records'",
        ),
    ],
)
def test_bad_specs_name_the_field_and_the_reason(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec, source="bench.yaml")
    message = str(caught.value)
    assert message.startswith("bench.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_spec_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SpecError, match=r"missing\.yaml: cannot read the spec"):
        load_spec(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML"):
        load_spec(broken)
    scalar = tmp_path / "scalar.json"
    scalar.write_text('"just a string"')
    with pytest.raises(SpecError, match=r"scalar\.json: the spec must be a mapping"):
        load_spec(scalar)


def test_numbers_beyond_what_the_stores_hold_are_refused_naming_the_field() -> None:
    base = {
        "name": "x",
        "models": ["builtin:lead"],
        "tasks": [{"name": "a", "type": "qa", "dataset": {"records": [{"question": "q", "answers": ["a"]}]}}],
    }
    cases = [
        ({"tolerances": {"f1-score": float("inf")}}, "tolerances.f1-score: Input should be a finite number"),
        ({"tasks": [{**base["tasks"][0], "limit": 10**30}]}, "tasks[0].limit"),
        ({"tasks": [{**base["tasks"][0], "seed": 2**63}]}, "tasks[0].seed"),
        (
            {"models": [{"name": "m", "provider": "builtin", "model": "lead", "params": {"maxTokens": 10**30}}]},
            "models[0].params.maxTokens",
        ),
        (
            {"models": [{"name": "m", "provider": "builtin", "model": "lead", "params": {"seed": -(2**64)}}]},
            "models[0].params.seed",
        ),
    ]
    for change, where in cases:
        with pytest.raises(SpecError, match=re.escape(where)):
            parse_spec({**base, **change})


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("column", "expected"),
    [  # each answered 500 when a suite stored it (FerretDB, bson) or the request was queued (JSON)
        ({"spans": [[0, 5]]}, "record 2: spans[0]: a list directly inside a list"),
        ({"$where": 1}, "record 2: the name '$where' cannot be stored"),
        ({"meta": {"a.b": 1}}, "record 2: meta: the name 'a.b' cannot be stored"),
        ({"meta": [{"k\x00": 1}]}, "record 2: meta[0]: the name 'k\\x00' cannot be stored"),
        ({"context": "\ud800"}, "record 2: context: not UTF-8 text (a lone surrogate)"),
        ({"n": 10**30}, "record 2: n: an integer beyond 64 bits"),
        ({"n": -(2**63) - 1}, "record 2: n: an integer beyond 64 bits"),
        ({"x": float("nan")}, "record 2: x: nan is not a finite number"),
        ({"deep": _nested(30)}, "record 2: deep.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a: nested deeper than 20 levels"),
    ],
)
def test_inline_records_hold_only_what_events_and_stores_hold(column: dict[str, Any], expected: str) -> None:
    records = [{"question": "q", "answers": ["a"]}, {"question": "q", "answers": ["a"], **column}]
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec(tasks=[{"name": "qa", "type": "qa", "dataset": {"records": records}}]))
    assert f"tasks[0].dataset.records: {expected}" in str(caught.value)


def test_inline_records_keep_any_storable_json() -> None:
    record = {"question": "q", "answers": ["a"], "": None, "n": -(2**63), "x$": [{"b": [1.5, {"c": True}]}], "deep": _nested(18)}
    spec = parse_spec(_spec(tasks=[{"name": "qa", "type": "qa", "dataset": {"records": [record]}}]))
    assert spec.tasks[0].dataset.records == [record]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"$x": "1"}, "models[0].headers: '$x' is not a header name"),
        ({"a.b": "1"}, "models[0].headers: 'a.b' is not a header name"),
        ({"X Y": "1"}, "models[0].headers: 'X Y' is not a header name"),
        ({"X-Tag": "a\r\nHost: elsewhere"}, "models[0].headers: X-Tag: a header value may not contain control characters"),
    ],
)
def test_model_headers_are_http_fields_a_store_can_key(headers: dict[str, str], expected: str) -> None:
    model = {"name": "m", "provider": "openai", "baseUrl": "https://api.example.org/v1", "headers": headers}
    with pytest.raises(SpecError, match=re.escape(expected)):
        parse_spec(_spec(models=[model]))
    ok = {**model, "headers": {"X-Request-Tag": "run 1\tof 2", "OpenAI-Organization": "org-1"}}
    assert parse_spec(_spec(models=[ok])).models[0].headers == ok["headers"]
