"""The built-in offline models give the answers their descriptions promise."""

from __future__ import annotations

from services.runner.adapters.base import GenerationRequest
from services.runner.adapters.builtin import BuiltinModel, split_sentences

DOCUMENT = (
    "The council met on Tuesday. The new cycle lane along the river opens in May. "
    "Residents asked whether the cycle lane along the river will be lit. Parking was also discussed."
)
CONTEXT = "The Varnel Lighthouse stands on Orsa Island. It was built in 1874 by the engineer Hugo Lindqvist."


def _request(task_type: str, **inputs: str) -> GenerationRequest:
    return GenerationRequest(task_type=task_type, system="", prompt="p q", inputs=inputs, labels=("sports", "science"))


def test_sentence_splitting() -> None:
    assert split_sentences("One. Two! Three? four") == ["One.", "Two!", "Three? four"]


async def test_lead_summarises_with_the_first_sentence() -> None:
    completion = await BuiltinModel("lead").generate(_request("summarization", document=DOCUMENT))
    assert completion.text == "The council met on Tuesday."
    assert completion.completion_tokens == 5 and completion.prompt_tokens == 2


async def test_extractive_summarises_with_the_most_central_sentence() -> None:
    completion = await BuiltinModel("extractive").generate(_request("summarization", document=DOCUMENT))
    assert "cycle lane along the river" in completion.text


async def test_extractive_answers_with_a_short_span_of_the_asked_kind() -> None:
    model = BuiltinModel("extractive")
    when = await model.generate(_request("qa", question="When was the Varnel Lighthouse built?", context=CONTEXT))
    assert when.text == "1874"
    lead = await BuiltinModel("lead").generate(_request("qa", question="Which engineer built it?", context=CONTEXT))
    assert lead.text == "It was built in 1874 by the engineer Hugo Lindqvist."


async def test_classification_baselines() -> None:
    text = "The sports club won the cup final."
    assert (await BuiltinModel("lead").generate(_request("classification", text=text))).text == "sports"
    science = "Scientists at the science museum measured the comet."
    assert (await BuiltinModel("extractive").generate(_request("classification", text=science))).text == "science"
