"""rouge-score's default tokenizer, token for token, with each word's stem computed once.

rouge-score (`rouge_score.tokenize.tokenize`) lower-cases the text, turns every run of characters
outside [a-z0-9] into a space, splits on whitespace, stems the words longer than 3 characters
with NLTK's `PorterStemmer()` (its default NLTK_EXTENSIONS mode) and drops any token that is not
[a-z0-9]+. Taking the [a-z0-9]+ runs of the lower-cased text gives the same words; Porter stemming
is a pure function of the word, so a per-word cache returns the same stems without re-running
the stemmer (the main cost of rouge-score's tokenizer on real text, where words repeat).

ROUGE-Lsum reads a text as its lines (`text.split("\\n")`, empty lines dropped). Lower-casing acts
on each character alone for everything that can become [a-z0-9] (the one context-dependent rule,
Greek final sigma, yields a non-ASCII letter), and a newline always separates words, so the
tokens of the whole text are exactly the tokens of its lines, one after another: one pass
serves all four ROUGE variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["line_tokens"]

_WORDS = re.compile(r"[a-z0-9]+")
_VALID = re.compile(r"^[a-z0-9]+$")
_CACHE_LIMIT = 200_000
"""Distinct words kept; past this the cache starts again, so arbitrary input cannot grow memory."""


class _StemCache(dict[str, str]):
    """word -> rouge-score's token for it; a miss runs the stemmer once (dict lookups stay in C)."""

    def __init__(self) -> None:
        super().__init__()
        self._stem: Callable[[str], str] | None = None

    def __missing__(self, word: str) -> str:
        if self._stem is None:
            # Imported on first use: NLTK takes half a second to import, and most commands never stem
            from nltk.stem.porter import PorterStemmer

            self._stem = PorterStemmer().stem
        token = self._stem(word) if len(word) > 3 else word
        if not _VALID.match(token):
            token = ""  # rouge-score drops it; never seen for ASCII words, kept for exactness
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[word] = token
        return token


_STEMS = _StemCache()


def line_tokens(text: str, *, stemming: bool) -> list[list[str]]:
    """The tokens of each non-empty line of `text`, as rouge-score's tokenizer makes them."""
    lines = []
    for line in text.split("\n"):
        if not line:
            continue  # rouge-score drops empty lines; a line of punctuation stays, with no tokens
        words = _WORDS.findall(line.lower())
        if stemming:
            words = list(map(_STEMS.__getitem__, words))
            if "" in words:
                words = [word for word in words if word]
        lines.append(words)
    return lines
