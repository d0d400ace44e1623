"""Task types: what a dataset record must hold, the default metrics and the default prompt.

A task in a spec names one of these types; everything type-specific is declared here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["TaskTypeName", "TaskType", "TASK_TYPES"]

TaskTypeName = Literal["summarization", "qa", "classification"]


@dataclass(frozen=True, slots=True)
class TaskType:
    name: TaskTypeName
    input_fields: tuple[str, ...]
    """Record fields the model sees; all required."""
    optional_input_fields: tuple[str, ...]
    """Record fields the model may see; an absent one renders as an empty string."""
    reference_field: str
    """Record field holding the gold answer: a string or a list of strings."""
    default_metrics: tuple[str, ...]
    default_system: str
    default_template: str
    """str.format template over the input fields (and `labels` for classification)."""


TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType(
            name="summarization",
            input_fields=("document",),
            optional_input_fields=(),
            reference_field="summary",
            default_metrics=("rouge-1", "rouge-2", "rouge-l", "rouge-lsum"),
            default_system="You are a careful summarizer. Reply with the summary only.",
            default_template="Summarize the following text in one or two sentences.\n\n{document}\n\nSummary:",
        ),
        TaskType(
            name="qa",
            input_fields=("question",),
            optional_input_fields=("context",),
            reference_field="answers",
            default_metrics=("exact-match", "f1-score"),
            default_system="Answer with the shortest span that answers the question, nothing else.",
            default_template="Context: {context}\n\nQuestion: {question}\n\nAnswer:",
        ),
        TaskType(
            name="classification",
            input_fields=("text",),
            optional_input_fields=(),
            reference_field="label",
            default_metrics=("accuracy",),
            default_system="Reply with exactly one of the allowed labels, nothing else.",
            default_template="Classify the text as one of: {labels}.\n\nText: {text}\n\nLabel:",
        ),
    )
}
