"""Prompt rendering and few-shot examples."""

from __future__ import annotations

import json
from pathlib import Path

from services.runner.prompts import render_prompt
from shared.datasets import load_task_dataset
from shared.events import Sample
from shared.spec import TaskSpec


def _task(**extra: object) -> TaskSpec:
    return TaskSpec.model_validate({"name": "qa", "type": "qa", "dataset": "qa.jsonl", **extra})


def test_default_prompt_uses_the_type_template() -> None:
    system, prompt = render_prompt(
        _task(), Sample(id="1", inputs={"question": "Who?", "context": "Ann did."}, references=["Ann"])
    )
    assert system.startswith("Answer with the shortest span")
    assert prompt == "Context: Ann did.\n\nQuestion: Who?\n\nAnswer:"


def test_few_shot_examples_come_first_with_their_answers() -> None:
    task = _task(prompt={"template": "Q: {question}\nA:", "system": "Be brief."})
    examples = [Sample(id="e1", inputs={"question": "2+2?", "context": ""}, references=["4", "four"])]
    system, prompt = render_prompt(task, Sample(id="1", inputs={"question": "3+3?", "context": ""}, references=["6"]), examples)
    assert system == "Be brief."
    assert prompt == "Q: 2+2?\nA: 4\n\nQ: 3+3?\nA:"


def test_classification_prompts_list_the_labels() -> None:
    task = TaskSpec.model_validate({"name": "c", "type": "classification", "dataset": "c.jsonl", "labels": ["a", "b"]})
    _, prompt = render_prompt(task, Sample(id="1", inputs={"text": "t"}, references=["a"]))
    assert "Classify the text as one of: a, b." in prompt


def test_few_shot_examples_are_seeded_not_evaluated_and_part_of_the_digest(tmp_path: Path) -> None:
    (tmp_path / "qa.jsonl").write_text(
        "".join(json.dumps({"id": i, "question": f"q{i}", "answers": "a"}) + "\n" for i in range(20))
    )
    plain = load_task_dataset(_task(), base_dir=tmp_path)
    shots = load_task_dataset(_task(prompt={"fewShot": 3}), base_dir=tmp_path)
    assert len(shots.examples) == 3 and len(shots.samples) == 17
    assert not {e.id for e in shots.examples} & {s.id for s in shots.samples}
    assert shots.examples == load_task_dataset(_task(prompt={"fewShot": 3}), base_dir=tmp_path).examples
    assert shots.digest != plain.digest
