"""Prompt rendering: one function, so every runner renders a task's prompt the same way."""

from __future__ import annotations

from collections.abc import Sequence

from shared.events import Sample
from shared.spec import TaskSpec
from shared.task_types import TASK_TYPES

__all__ = ["render_prompt"]


def render_prompt(task: TaskSpec, sample: Sample, examples: Sequence[Sample] = ()) -> tuple[str, str]:
    """Return (system prompt, user prompt): each few-shot example rendered with its answer, then
    the sample. The spec has already checked the template's placeholders."""
    task_type = TASK_TYPES[task.type]
    template = task.prompt.template if task.prompt.template is not None else task_type.default_template
    system = task.prompt.system if task.prompt.system is not None else task_type.default_system
    shots = [f"{_fill(template, task, example)} {example.references[0]}" for example in examples]
    return system, "\n\n".join([*shots, _fill(template, task, sample)])


def _fill(template: str, task: TaskSpec, sample: Sample) -> str:
    values = dict(sample.inputs)
    if task.type == "classification":
        values["labels"] = ", ".join(task.labels)
    return template.format_map(values)
