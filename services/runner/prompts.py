"""Prompt rendering: one function, so every runner renders a task's prompt the same way."""

from __future__ import annotations

from shared.events import Sample
from shared.spec import TaskSpec
from shared.task_types import TASK_TYPES

__all__ = ["render_prompt"]


def render_prompt(task: TaskSpec, sample: Sample) -> tuple[str, str]:
    """Return (system prompt, user prompt). The spec has already checked the placeholders."""
    task_type = TASK_TYPES[task.type]
    template = task.prompt.template if task.prompt.template is not None else task_type.default_template
    system = task.prompt.system if task.prompt.system is not None else task_type.default_system
    values = dict(sample.inputs)
    if task.type == "classification":
        values["labels"] = ", ".join(task.labels)
    return system, template.format_map(values)
