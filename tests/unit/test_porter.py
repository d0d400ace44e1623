"""The fast Porter stemmer equals NLTK's PorterStemmer().stem (NLTK_EXTENSIONS), word by word.

NLTK is the reference: every test compares the two on many words and reports the first
mismatches. Words: those of the example data, seeded random stems with chains of the suffixes
Porter's rules look for, every short word over a small alphabet, and hand-picked edge cases.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from nltk.stem.porter import PorterStemmer

from shared.metrics.porter import stem

NLTK = PorterStemmer()
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"

POOL = [
    "sky", "skies", "dying", "lying", "tying", "news", "innings", "inning", "outings", "outing",
    "cannings", "canning", "howe", "proceed", "exceed", "succeed",
]  # fmt: skip
RULE_SUFFIXES = [
    # step 1a, 1b (and the 1b repairs), 1c
    "sses", "ies", "ss", "s", "ied", "eed", "ed", "ing", "at", "bl", "iz", "y",
    # step 2
    "ational", "tional", "enci", "anci", "izer", "bli", "abli", "alli", "entli", "eli", "ousli",
    "ization", "ation", "ator", "alism", "iveness", "fulness", "ousness", "aliti", "iviti",
    "biliti", "fulli", "logi",
    # step 3
    "icate", "ative", "alize", "iciti", "ical", "ful", "ness",
    # step 4
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "sion",
    "tion", "ou", "ism", "ate", "iti", "ous", "ive", "ize",
    # step 5
    "e", "ll", "l",
]  # fmt: skip
INFLECTIONS = ["s", "es", "ies", "ed", "ied", "eed", "ing", "ly", "y", "er", "est", "ness", "ment", "ity", "ities"]
SUFFIXES = RULE_SUFFIXES + INFLECTIONS

VOWELS = "aeiou"
CONSONANTS = "bcdfghjklmnpqrstvwxz"


def _mismatches(words: Iterable[str]) -> list[tuple[str, str, str]]:
    """(word, NLTK's stem, ours) for each word where they differ."""
    bad = []
    for word in words:
        expected = NLTK.stem(word)
        actual = stem(word)
        if actual != expected:
            bad.append((word, expected, actual))
    return bad


def _assert_same(words: Iterable[str]) -> int:
    words = list(dict.fromkeys(words))
    bad = _mismatches(words)
    assert not bad, f"{len(bad)} of {len(words)} words differ (word, nltk, ours): {bad[:20]}"
    return len(words)


def _random_stem(rng: random.Random) -> str:
    """0-8 characters, English-like: alternating consonant/vowel runs, many 'y's, some digits."""
    length = rng.randint(0, 8)
    chars: list[str] = []
    consonant = rng.random() < 0.6
    while len(chars) < length:
        roll = rng.random()
        if roll < 0.12:
            chars.append("y")
        elif roll < 0.16:
            chars.append(rng.choice("0123456789"))
        elif consonant:
            letter = rng.choice(CONSONANTS)
            chars.append(letter)
            if rng.random() < 0.15:
                chars.append(letter)  # double consonant
            elif rng.random() < 0.2:
                chars.append(rng.choice(CONSONANTS))
        else:
            chars.append(rng.choice(VOWELS))
            if rng.random() < 0.15:
                chars.append(rng.choice(VOWELS))
        consonant = not consonant if rng.random() < 0.85 else consonant
    return "".join(chars[:length])


def _random_words(count: int, seed: int = 20240611) -> list[str]:
    rng = random.Random(seed)
    words = []
    for _ in range(count):
        word = _random_stem(rng)
        if rng.random() < 0.3:  # end cvc, the *o condition
            word += rng.choice(CONSONANTS) + rng.choice(VOWELS + "y") + rng.choice(CONSONANTS + "wxy")
        for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
            word += rng.choice(SUFFIXES)
        if word:
            words.append(word)
    return words


def test_example_data_words() -> None:
    words = []
    for path in sorted(DATA.glob("*.jsonl")):
        words += re.findall(r"[a-z0-9]+", path.read_text(encoding="utf-8").lower())
    assert len(words) > 1000
    _assert_same(words)


def test_random_words() -> None:
    words = _random_words(120_000)
    words += POOL + [word + suffix for word in POOL for suffix in SUFFIXES]
    assert _assert_same(words) >= 100_000


def test_every_short_word() -> None:
    alphabet = "aeiouybcdlmnrstwxz0"
    words = ["".join(letters) for length in range(1, 5) for letters in itertools.product(alphabet, repeat=length)]
    _assert_same(words)


def test_short_stems_with_suffixes() -> None:
    # Every 0-2 character stem (where m, *o, *d and the 'y' rule are at their edges) with each suffix.
    alphabet = "aeybslwz1"
    stems = ["".join(letters) for length in range(3) for letters in itertools.product(alphabet, repeat=length)]
    _assert_same(base + suffix for base in stems for suffix in SUFFIXES)


def test_y_runs_and_digits() -> None:
    words = ["y" * n for n in range(1, 40)] + ["7" * n for n in range(1, 12)]
    words += [prefix + "y" * n + suffix for prefix in ("", "b", "a", "bab") for n in range(1, 8) for suffix in SUFFIXES]
    words += ["1874", "2024", "42", "100s", "1990s", "3d", "4th", "mp3s", "b2b", "covid19"]
    _assert_same(words)


def test_non_ascii_lower_case_words() -> None:
    # Outside rouge-score's [a-z0-9]+ words, but a lower-case word with other characters still
    # gets NLTK's stem (which counts them as consonants).
    _assert_same(["café", "naïve", "straße", "cafés", "naïvely", "ñandú", "зелёный", "東京ing", "éy", "añoy"])


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("dies", "die"),
        ("flies", "fli"),
        ("ties", "tie"),
        ("ies", "i"),
        ("died", "die"),
        ("spied", "spi"),
        ("ied", "i"),
        ("skies", "sky"),
        ("sky", "sky"),
        ("dying", "die"),
        ("happy", "happi"),
        ("enjoy", "enjoy"),
        ("spy", "spi"),
        ("generalli", "gener"),
        ("generally", "gener"),
        ("rationalli", "ration"),
        ("conditionalli", "condit"),
        ("hopefulli", "hope"),
        ("archaeologi", "archaeolog"),
        ("geologi", "geolog"),
        ("controll", "control"),
        ("roll", "roll"),
        ("agreed", "agre"),
        ("feed", "feed"),
        ("hopping", "hop"),
        ("filing", "file"),
        ("failing", "fail"),
        ("owing", "owe"),
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("hissing", "hiss"),
        ("fizzed", "fizz"),
        ("conflated", "conflat"),
        ("troubled", "troubl"),
        ("sized", "size"),
        ("relational", "relat"),
        ("adoption", "adopt"),
        ("yyyy", "yyyi"),
        ("yyy", "yyy"),
        ("ayy", "ayi"),
        ("a", "a"),
        ("is", "is"),
        ("1234", "1234"),
    ],
)
def test_edge_cases(word: str, expected: str) -> None:
    assert NLTK.stem(word) == expected  # the expected values are NLTK's
    assert stem(word) == expected
