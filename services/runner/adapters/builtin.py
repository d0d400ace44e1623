"""Built-in offline models: real (if simple) baselines, so a benchmark runs with no keys.

- `lead`: the classic lead baseline. Summaries are the document's first sentence; answers are
  the whole context sentence that shares most words with the question; classification
  always answers the first label (a constant baseline).
- `extractive`: a little smarter. Summaries are the sentence whose words are most frequent in
  the document (Luhn-style centrality); answers are a short span of the best sentence, chosen by
  the kind of answer the question asks for (a year for "when", a number for "how many", a name
  for "who"/"where"); classification picks the label sharing most word stems with the text.

They read the record's fields (`GenerationRequest.inputs`) rather than the prompt, and count
whitespace-separated words as tokens (they have no tokenizer).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from services.runner.adapters.base import Completion, GenerationRequest
from shared.spec import BUILTIN_MODEL_NAMES

__all__ = ["BUILTIN_MODELS", "BuiltinModel", "split_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an the of to in on at for by with and or but is are was were be been being it its this that these those "
    "as from into than then there their they them he she his her we our you your i what which who whom whose "
    "when where why how many much did do does has have had will would can could should not no so if".split()
)
# Words that end a candidate answer span: an answer rarely runs across them.
_SPAN_BREAKS = frozenset("by and with while which who that after before because when where during since until".split())
_LEADING_FILLER = frozenset("in on at a an the of to from about around".split())
_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million".split()
)
_MONTHS = frozenset("january february march april may june july august september october november december".split())


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _content_words(text: str) -> set[str]:
    return {w for w in _words(text) if w not in _STOPWORDS}


def _best_sentence_for(question: str, context: str) -> str:
    sentences = split_sentences(context) or [context]
    asked = _content_words(question)
    # max() keeps the first of equal sentences: earlier sentences win ties
    return max(sentences, key=lambda s: len(asked & _content_words(s)))


# --- lead --------------------------------------------------------------------------------------


def _lead_summary(request: GenerationRequest) -> str:
    sentences = split_sentences(request.inputs["document"])
    return sentences[0] if sentences else ""


def _lead_answer(request: GenerationRequest) -> str:
    return _best_sentence_for(request.inputs["question"], request.inputs.get("context", ""))


def _lead_label(request: GenerationRequest) -> str:
    return request.labels[0] if request.labels else ""


# --- extractive --------------------------------------------------------------------------------


def _central_sentence(request: GenerationRequest) -> str:
    sentences = split_sentences(request.inputs["document"])
    if not sentences:
        return ""
    frequency = Counter(w for s in sentences for w in _content_words(s))

    def centrality(sentence: str) -> float:
        words = _content_words(sentence)
        return sum(frequency[w] for w in words) / (len(words) ** 0.5 or 1.0)

    return max(sentences, key=centrality)


def _candidate_spans(sentence: str, asked: set[str]) -> list[tuple[int, list[str]]]:
    """Runs of sentence words that the question does not already contain, with their position."""
    tokens = sentence.split()
    spans: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for position, token in enumerate(tokens):
        bare = token.strip(".,;:!?\"'()[]").lower()
        breaks = bare in asked or bare in _SPAN_BREAKS or not bare
        if not breaks:
            if not current:
                start = position
            current.append(token.strip(".,;:!?\"'()[]"))
        if (breaks or token.endswith((",", ";", ":"))) and current:
            spans.append((start, current))
            current = []
    if current:
        spans.append((start, current))
    trimmed = []
    for start, words in spans:
        while words and words[0].lower() in _LEADING_FILLER:
            words = words[1:]
            start += 1
        if words:
            trimmed.append((start, words))
    return trimmed


def _answer_kind_bonus(question: str) -> Callable[[list[str]], float]:
    q = question.lower()

    def has_number(words: list[str]) -> bool:
        return any(any(ch.isdigit() for ch in w) or w.lower() in _NUMBER_WORDS for w in words)

    def capitalised(words: list[str]) -> bool:
        return words[0][:1].isupper()

    if q.startswith("when") or "what year" in q:
        return lambda words: 2.0 * (has_number(words) or any(w.lower() in _MONTHS for w in words))
    if q.startswith(("how many", "how much")) or "how long" in q or "how old" in q:
        return lambda words: 2.0 * has_number(words)
    if q.startswith(("who", "where", "which")):
        return lambda words: 1.5 * capitalised(words)
    return lambda words: 0.0


def _extractive_answer(request: GenerationRequest) -> str:
    question = request.inputs["question"]
    sentences = split_sentences(request.inputs.get("context", "")) or [request.inputs.get("context", "")]
    asked_stems = {_stem(w) for w in _content_words(question)}
    # a question word found in every sentence (the topic's name, say) tells little: weight by rarity
    sentence_stems = [{_stem(w) for w in _content_words(s)} for s in sentences]
    spread = Counter(stem for stems in sentence_stems for stem in stems)
    bonus = _answer_kind_bonus(question)
    asked_words = _words_lower_set(question)

    best: tuple[float, str] = (float("-inf"), sentences[0])
    for sentence, stems in zip(sentences, sentence_stems, strict=True):
        overlap = sum(1.0 / spread[stem] for stem in asked_stems & stems)
        for position, words in _candidate_spans(sentence, asked_words):
            # prefer the kind of answer asked for, then short spans, then the earliest
            fit = bonus(words) - 0.15 * max(len(words) - 3, 0) - 0.01 * position
            if all(w.lower() in _STOPWORDS for w in words):
                fit -= 1.0  # "It was", "is a": never an answer
            if 2.0 * overlap + fit > best[0]:
                best = (2.0 * overlap + fit, " ".join(words[:8]))
    return best[1]


def _words_lower_set(text: str) -> set[str]:
    return set(_words(text))


def _stem(word: str) -> str:
    return word[:5]


def _overlap_label(request: GenerationRequest) -> str:
    if not request.labels:
        return ""
    text_stems = {_stem(w) for w in _content_words(request.inputs["text"])}
    return max(request.labels, key=lambda label: len(text_stems & {_stem(w) for w in _words(label)}))


# --- the adapter ---------------------------------------------------------------------------------

_Answerer = Callable[[GenerationRequest], str]

BUILTIN_MODELS: dict[str, dict[str, _Answerer]] = {
    "lead": {"summarization": _lead_summary, "qa": _lead_answer, "classification": _lead_label},
    "extractive": {"summarization": _central_sentence, "qa": _extractive_answer, "classification": _overlap_label},
}


assert set(BUILTIN_MODELS) == BUILTIN_MODEL_NAMES, "shared/spec.py names the built-in models a spec may use"


class BuiltinModel:
    """A built-in model behind the same adapter interface as the HTTP ones."""

    def __init__(self, model_id: str) -> None:
        self._answerers = BUILTIN_MODELS[model_id]

    async def generate(self, request: GenerationRequest) -> Completion:
        text = self._answerers[request.task_type](request)
        return Completion(
            text=text,
            prompt_tokens=len(request.system.split()) + len(request.prompt.split()),
            completion_tokens=len(text.split()),
        )

    async def aclose(self) -> None:
        return None
