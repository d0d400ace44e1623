"""The published deployment-event schema and the documented event examples stay true to the code.

After changing DeploymentEvent (or a model it contains), regenerate the schema file with

    .venv/bin/python -m tests.unit.test_event_schemas
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from shared import events

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "schemas" / "deployment-event.schema.json"
EXAMPLE = ROOT / "docs" / "schemas" / "deployment-event.example.json"
GUIDE = ROOT / "docs" / "continuous-evaluation.md"

DOC_EXAMPLE = re.compile(r"<!-- example: (\w+) -->\s*```json\n(.*?)```", re.DOTALL)
"""A JSON block in the guide marked with the event class it shows."""


def generated_schema() -> str:
    """The schema as the wire sees it (camelCase, what a producer may send), as committed."""
    schema = events.DeploymentEvent.model_json_schema(by_alias=True, mode="validation")
    return json.dumps(schema, indent=2) + "\n"


def documented_examples() -> list[tuple[str, str]]:
    return DOC_EXAMPLE.findall(GUIDE.read_text(encoding="utf-8"))


def test_committed_schema_is_what_the_model_generates() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == generated_schema(), (
        "docs/schemas/deployment-event.schema.json is stale: run `.venv/bin/python -m tests.unit.test_event_schemas`"
    )


def test_example_file_is_a_valid_deployment_event() -> None:
    event = events.DeploymentEvent.model_validate_json(EXAMPLE.read_text(encoding="utf-8"))
    assert (event.model, event.suite, event.endpoint) == ("support-bot", "support", "https://support-bot-canary.example.com/v1")


def test_the_guide_shows_the_example_file() -> None:
    shown = [json.loads(body) for name, body in documented_examples() if name == "DeploymentEvent"]
    assert json.loads(EXAMPLE.read_text(encoding="utf-8")) in shown


@pytest.mark.parametrize(
    ("name", "body"), [pytest.param(name, body, id=f"{name}-{i}") for i, (name, body) in enumerate(documented_examples())]
)
def test_every_example_in_the_guide_is_a_valid_event(name: str, body: str) -> None:
    getattr(events, name).model_validate_json(body)


def test_the_guide_has_a_deployment_and_a_completion_example() -> None:
    assert {name for name, _ in documented_examples()} >= {"DeploymentEvent", "BenchmarkCompleted"}


def test_schema_accepts_the_example_and_refuses_what_the_model_refuses() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(example)) == []
    without_version = {k: v for k, v in example.items() if k != "version"}
    for bad in (without_version, {**example, "schemaVersion": 2}, {**example, "endpoint": "ftp://x"}, {**example, "extra": 1}):
        assert list(validator.iter_errors(bad)), bad
        with pytest.raises(ValidationError):
            events.DeploymentEvent.model_validate(bad)


if __name__ == "__main__":
    SCHEMA.write_text(generated_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA.relative_to(ROOT)}")
