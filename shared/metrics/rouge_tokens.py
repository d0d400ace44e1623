"""rouge-score's default tokenizer, token for token, with each word's stem computed once.

rouge-score (`rouge_score.tokenize.tokenize`) lower-cases the text, turns every run of characters
outside [a-z0-9] into a space, splits on whitespace, stems the words longer than 3 characters
with NLTK's `PorterStemmer()` (its default NLTK_EXTENSIONS mode) and drops any token that is not
[a-z0-9]+. Taking the [a-z0-9]+ runs of the lower-cased text gives the same words; Porter stemming
is a pure function of the word, so a per-word cache returns the same stems without re-running
the stemmer (the main cost of rouge-score's tokenizer on real text, where words repeat), and a
word seen for the first time goes to `porter.stem`, NLTK's algorithm restated for speed.

ROUGE-Lsum reads a text as its lines (`text.split("\\n")`). Lower-casing acts
on each character alone for everything that can become [a-z0-9] (the one context-dependent rule,
Greek final sigma, yields a non-ASCII letter), and a newline always separates words, so the
tokens of the whole text are exactly the tokens of its lines, one after another: one pass
serves all four ROUGE variants.

Tokens are then written as one character each: every distinct token gets a code point of its own
(`_TOKEN_CODES`), the same in every text, so a sentence is a str of codes. Counting, comparing
and LCS then run on strings in C, with no per-text symbol table; equality is exact (one code,
one token). The table is bounded: past `_CODE_LIMIT` tokens it starts afresh (`reset_if_full`,
called between computations, whose caller then drops every code string it cached, so old and
new codes never meet).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import AnyStr

from shared.metrics.porter import stem

__all__ = ["clear_caches", "decode", "line_tokens", "reset_if_full"]

_WORDS = re.compile(r"[a-z0-9]+")
_VALID = re.compile(r"^[a-z0-9]+$")
_SEPARATORS = bytes(byte if byte in b"\n0123456789abcdefghijklmnopqrstuvwxyz" else ord(" ") for byte in range(256))
"""For ASCII text: every byte outside [a-z0-9] but the newline becomes a space (faster than re)."""
_CODE_LIMIT = 200_000
"""Distinct tokens (or words) kept before the tables start again, so memory stays bounded (about
60 MB at the limit) and codes stay far below Unicode's 1,114,112 code points (one computation
adds at most its own texts' tokens past the limit)."""

_TOKEN_CODES: dict[str, str] = {}
"""token -> its one-character code"""
_TOKENS: list[str] = []
"""code point -> token (for decode)"""


def _code(token: str) -> str:
    code = _TOKEN_CODES.get(token)
    if code is None:
        code = _TOKEN_CODES[token] = chr(len(_TOKENS))
        _TOKENS.append(token)
    return code


class _StemCodes(dict[str | bytes, str]):
    """word -> the code of rouge-score's token for it ("" when rouge-score drops the word); a
    miss runs the stemmer once (hits stay in C)."""

    def __missing__(self, word: str | bytes) -> str:
        text = word.decode("ascii") if isinstance(word, bytes) else word
        if len(text) > 3:  # rouge-score stems only the longer words
            text = stem(text)
        code = self[word] = _code(text) if _VALID.match(text) else ""  # rouge-score drops such tokens
        return code


class _WordCodes(dict[str | bytes, str]):
    """word -> the code of the word itself, for tokenizing without stemming (every [a-z0-9]+ run
    is a valid token)."""

    def __missing__(self, word: str | bytes) -> str:
        code = self[word] = _code(word.decode("ascii") if isinstance(word, bytes) else word)
        return code


_CODES = {(True, bytes): _StemCodes(), (True, str): _StemCodes(), (False, bytes): _WordCodes(), (False, str): _WordCodes()}


def line_tokens(text: str, *, stemming: bool) -> list[str]:
    """The tokens of each line of `text` that has any, as rouge-score's tokenizer makes them,
    one code character per token (see `decode`)."""
    lowered = text.lower()
    if lowered.isascii():
        lines = lowered.encode("ascii").translate(_SEPARATORS).split(b"\n")
        return _sentences(lines, bytes.split, _CODES[stemming, bytes])
    return _sentences(lowered.split("\n"), _WORDS.findall, _CODES[stemming, str])


def _sentences(lines: list[AnyStr], words_of: Callable[[AnyStr], list[AnyStr]], codes: dict[str | bytes, str]) -> list[str]:
    join, code_of = "".join, codes.__getitem__
    # a dropped word's code is "": joining leaves it out; a line without tokens (rouge-score keeps
    # it) adds nothing to any ROUGE count
    return [sentence for sentence in (join(map(code_of, words_of(line))) for line in lines) if sentence]


def decode(codes: str) -> list[str]:
    """The tokens a code string stands for (for tests and debugging)."""
    return [_TOKENS[ord(code)] for code in codes]


def reset_if_full() -> bool:
    """Start the code tables afresh if they are full; True if they were (callers then drop what
    they cached in codes). Call it between computations, never within one."""
    if len(_TOKENS) < _CODE_LIMIT and all(len(codes) < _CODE_LIMIT for codes in _CODES.values()):
        return False
    clear_caches()
    return True


def clear_caches() -> None:
    """Forget every code and cached word (results never depend on the caches)."""
    for codes in _CODES.values():
        codes.clear()
    _TOKEN_CODES.clear()
    _TOKENS.clear()
