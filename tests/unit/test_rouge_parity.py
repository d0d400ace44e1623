"""The scorer's ROUGE equals rouge-score's RougeScorer exactly (the reference implementation).

Property-style: thousands of seeded random texts mixing words that stem, punctuation, digits,
Unicode letters (some of which lower-case to ASCII), newlines and empty strings, scored with
stemming on and off, with one or several references; plus hand-picked edge cases. "Exactly"
means the same floats: precision, recall and F-measure compared with ==.
"""

from __future__ import annotations

import random

import pytest
from rouge_score.rouge_scorer import RougeScorer

from shared.metrics import rouge
from shared.metrics.registry import get_metric

TYPES = rouge.ROUGE_TYPES
SCORERS = {stemming: RougeScorer(list(TYPES.values()), use_stemmer=stemming) for stemming in (True, False)}

WORDS = (
    "the a of cat cats sat sitting on mat mats running runs ran run quickly quick generalization "
    "generalizations relational conditional caresses ponies ties agreed feed plastered motoring "
    "sky skies dying lying news ides 1874 2024 42 7 x y z ok the"
).split()
UNICODE = ["Ærø", "café", "naïve", "Zürich", "über", "ΣΟΦΙΑ", "straße", "İstanbul", "KELVIN", "Ⅻ", "１２", "東京", "ﬁne"]  # noqa: RUF001 - full-width digits on purpose
PUNCTUATION = [",", ".", "!", "?", ";", "-", "(", ")", "'s", "--", "...", '"', "\t", "\r", "\n", "\n\n", " \n "]


def _random_text(rng: random.Random, *, small_alphabet: bool) -> str:
    if rng.random() < 0.05:
        return rng.choice(["", " ", "\n", "...", "\n\n"])
    pool = ["a", "b", "c", "the", "runs", "run"] if small_alphabet else WORDS
    parts = []
    for _ in range(rng.randint(0, 45)):
        roll = rng.random()
        if roll < 0.70:
            parts.append(rng.choice(pool))
        elif roll < 0.80:
            parts.append(rng.choice(UNICODE))
        else:
            parts.append(rng.choice(PUNCTUATION))
    return rng.choice([" ", " ", ""]).join(parts) if rng.random() < 0.9 else " ".join(parts)


def _assert_same(prediction: str, references: list[str], *, stemming: bool) -> None:
    expected = SCORERS[stemming].score_multi(references, prediction)
    got = rouge.rouge_scores(prediction, references, stemming=stemming)
    for name, rouge_type in TYPES.items():
        want = expected[rouge_type]
        assert tuple(got[name]) == (want.precision, want.recall, want.fmeasure), (name, prediction, references)


@pytest.mark.parametrize("small_alphabet", [False, True], ids=["words", "few-symbols-many-ties"])
def test_scorer_matches_rouge_score_on_thousands_of_random_texts(small_alphabet: bool) -> None:
    rng = random.Random(20240611 + small_alphabet)
    for _ in range(1500):
        prediction = _random_text(rng, small_alphabet=small_alphabet)
        references = [_random_text(rng, small_alphabet=small_alphabet) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        _assert_same(prediction, references, stemming=rng.random() < 0.7)


EDGE_CASES = [
    ("", "the cat sat"),
    ("the cat sat", ""),
    ("", ""),
    ("...", "!!!"),
    ("\n\n\n", "a\n\nb"),
    ("cat", "cat"),
    ("the the the the", "the"),
    ("a b a b a b", "b a b a"),
    ("runs running ran", "run runner runs"),
    ("1874 2024", "in 1874, not 2024"),
    ("Café CAFÉ café", "cafe caf"),
    ("KELVIN K", "k kelvin"),  # U+212A KELVIN SIGN lower-cases to ASCII k
    ("İstanbul", "i stanbul"),  # U+0130 lower-cases to i + combining dot
    ("ΣΟΦΙΑΣ sofia", "σοφιας sofia"),  # Greek final sigma: never ASCII
    ("x\r\ny\r\nz", "x y z"),  # only \n splits sentences
    ("one two\nthree four\nfive", "five\nthree four\none two"),  # sentence order matters to Lsum only
    ("a b c\nc b a\na c b", "a b c a\nb a c"),  # tie-heavy union LCS
    ("w1 w2 w3 w4 w5 w6", "w6 w5 w4 w3 w2 w1"),
    ("it's don't won't", "it s don t won t"),
    ("e.g. i.e. U.S.A.", "eg ie usa u s a"),
]


@pytest.mark.parametrize(("prediction", "reference"), EDGE_CASES)
@pytest.mark.parametrize("stemming", [True, False], ids=["stemmed", "unstemmed"])
def test_scorer_matches_rouge_score_on_edge_cases(prediction: str, reference: str, stemming: bool) -> None:
    _assert_same(prediction, [reference], stemming=stemming)


def test_scorer_matches_rouge_score_on_long_texts() -> None:
    rng = random.Random(5)
    for _ in range(3):
        reference = "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))) for _ in range(30))
        prediction = "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))) for _ in range(30))
        _assert_same(prediction, [reference], stemming=True)


def test_scorer_matches_rouge_score_beyond_the_characters_a_string_can_encode() -> None:
    # more distinct tokens than Unicode has code points below the surrogates: the encoding for
    # rapidfuzz must stay exact there too
    tokens = [f"t{i}" for i in range(60_000)]
    reference = " ".join(tokens)
    prediction = " ".join(tokens[i] for i in (59_999, 55_296, 55_297, 57_000, 3, 59_998))
    _assert_same(prediction, [reference], stemming=False)


def test_best_reference_is_the_first_with_the_highest_f_measure() -> None:
    # equal F-measures with different precision and recall: score_multi keeps the first
    references = ["a b c d", "a b x", "a b c d"]
    _assert_same("a b c", references, stemming=True)
    _assert_same("a b c", list(reversed(references)), stemming=True)


def test_the_registry_metrics_report_rouge_score_values_and_details() -> None:
    prediction, reference = "The cats were running\nacross the mat.", "a cat ran across the mat\nquickly"
    expected = SCORERS[True].score(reference, prediction)
    for name, rouge_type in TYPES.items():
        got = get_metric(name).compute(prediction, [reference])
        assert got.value == expected[rouge_type].fmeasure
        assert got.details == {"precision": expected[rouge_type].precision, "recall": expected[rouge_type].recall}


def test_results_do_not_depend_on_the_caches() -> None:
    rng = random.Random(11)
    pairs = [(_random_text(rng, small_alphabet=False), _random_text(rng, small_alphabet=False)) for _ in range(50)]
    warm = [rouge.rouge_scores(p, [r]) for p, r in pairs]
    rouge.clear_caches()
    cold = [rouge.rouge_scores(p, [r]) for p, r in pairs]
    assert warm == cold


def test_scorer_matches_rouge_score_when_the_token_codes_start_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tokens are coded as characters from one bounded table; when it fills it starts again
    # between computations. A tiny limit makes that happen every few texts: the same numbers
    # must come out, and no code string of an earlier table may meet a new one.
    from shared.metrics import rouge_tokens

    monkeypatch.setattr(rouge_tokens, "_CODE_LIMIT", 25)
    rouge.clear_caches()
    resets = []
    reset_if_full = rouge_tokens.reset_if_full
    monkeypatch.setattr(rouge_tokens, "reset_if_full", lambda: resets.append(reset_if_full()) or resets[-1])
    rng = random.Random(99)
    for _ in range(300):
        prediction = _random_text(rng, small_alphabet=rng.random() < 0.5)
        _assert_same(prediction, [_random_text(rng, small_alphabet=False)], stemming=rng.random() < 0.7)
    assert sum(resets) > 10
    rouge.clear_caches()


def test_tokens_are_rouge_scores_tokens() -> None:
    from nltk.stem import porter
    from rouge_score import tokenize

    from shared.metrics import rouge_tokens

    stemmer = porter.PorterStemmer()
    rng = random.Random(3)
    for _ in range(300):
        text = _random_text(rng, small_alphabet=False)
        for stemming in (True, False):
            expected = [token for line in text.split("\n") for token in tokenize.tokenize(line, stemmer if stemming else None)]
            got = [token for line in rouge_tokens.line_tokens(text, stemming=stemming) for token in rouge_tokens.decode(line)]
            assert got == expected, text


def test_scorer_matches_rouge_score_with_codes_among_the_surrogates(monkeypatch: pytest.MonkeyPatch) -> None:
    # A long run hands out codes past 0xD800, which are surrogate code points: the UTF-32 views
    # of code strings (sorted codes, bigram keys) must take them like any other code.
    from shared.metrics import rouge_tokens

    rouge.clear_caches()
    monkeypatch.setattr(rouge_tokens, "_TOKENS", [""] * (0xD800 - 8))  # the next codes: 0xD7F8 onwards
    rng = random.Random(5)
    for _ in range(200):
        _assert_same(_random_text(rng, small_alphabet=False), [_random_text(rng, small_alphabet=False)], stemming=True)
    assert max(map(ord, "".join(rouge._analyse("the cat sat on the mat", True).tokens))) >= 0xD800
    rouge.clear_caches()
