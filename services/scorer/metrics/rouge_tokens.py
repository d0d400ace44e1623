"""rouge-score's default tokenizer, token for token, with each word's stem computed once.

rouge-score (`rouge_score.tokenize.tokenize`) lower-cases the text, turns every run of characters
outside [a-z0-9] into a space, splits on whitespace, stems the words longer than 3 characters
with NLTK's `PorterStemmer()` (its default NLTK_EXTENSIONS mode) and drops any token that is not
[a-z0-9]+. Taking the [a-z0-9]+ runs of the lower-cased text gives the same words; Porter stemming
is a pure function of the word, so a per-word cache returns the same stems without re-running
the stemmer (the main cost of rouge-score's tokenizer on real text, where words repeat).

ROUGE-Lsum reads a text as its lines (`text.split("\\n")`). Lower-casing acts
on each character alone for everything that can become [a-z0-9] (the one context-dependent rule,
Greek final sigma, yields a non-ASCII letter), and a newline always separates words, so the
tokens of the whole text are exactly the tokens of its lines, one after another: one pass
serves all four ROUGE variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["clear_caches", "line_tokens"]

_WORDS = re.compile(r"[a-z0-9]+")
_VALID = re.compile(r"^[a-z0-9]+$")
_SEPARATORS = bytes(byte if byte in b"\n0123456789abcdefghijklmnopqrstuvwxyz" else ord(" ") for byte in range(256))
"""For ASCII text: every byte outside [a-z0-9] but the newline becomes a space (faster than re)."""
_CACHE_LIMIT = 200_000
"""Distinct words kept per cache; past this a cache starts again, so arbitrary input cannot grow memory."""


class _StemCache(dict):
    """word -> rouge-score's token for it; a miss runs the stemmer once (hits stay in C)."""

    _stem: Callable[[str], str] | None = None

    def __missing__(self, word: str | bytes) -> str:
        text = word.decode("ascii") if isinstance(word, bytes) else word
        if len(text) > 3:
            if _StemCache._stem is None:
                # Imported on first use: NLTK takes half a second to import, most commands never stem
                from nltk.stem.porter import PorterStemmer

                _StemCache._stem = PorterStemmer().stem
            text = _StemCache._stem(text)
        token = text if _VALID.match(text) else ""  # rouge-score drops such tokens; kept for exactness
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[word] = token
        return token


class _WordCache(dict):
    """ASCII word (bytes) -> the same word as str, for tokenizing without stemming."""

    def __missing__(self, word: bytes) -> str:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        token = self[word] = word.decode("ascii")
        return token


_STEMMED = {bytes: _StemCache(), str: _StemCache()}
_ASCII_WORDS = _WordCache()


def line_tokens(text: str, *, stemming: bool) -> list[list[str]]:
    """The tokens of each line of `text` that has any, as rouge-score's tokenizer makes them."""
    lowered = text.lower()
    if lowered.isascii():
        lines = lowered.encode("ascii").translate(_SEPARATORS).split(b"\n")
        words_of = bytes.split
        cache = _STEMMED[bytes] if stemming else _ASCII_WORDS
    else:
        lines = lowered.split("\n")
        words_of = _WORDS.findall
        cache = _STEMMED[str] if stemming else None
    tokens = []
    for line in lines:
        words = words_of(line)
        if cache is not None:
            words = list(map(cache.__getitem__, words))
            if "" in words:
                words = [word for word in words if word]
        if words:  # a line without tokens (rouge-score keeps it) adds nothing to any ROUGE count
            tokens.append(words)
    return tokens


def clear_caches() -> None:
    """Forget every cached word (for cold-start measurements; results never depend on the caches)."""
    for cache in (*_STEMMED.values(), _ASCII_WORDS):
        cache.clear()
