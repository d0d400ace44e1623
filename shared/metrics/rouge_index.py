"""The overlaps of two texts' tokens that ROUGE counts: common unigrams and bigrams, the LCS, and
ROUGE-Lsum's union LCS (for which a reference keeps its token positions as bit masks).

Texts arrive as code strings (rouge_tokens: one character per token, the same code for the same
token in every text), so equality is exact and the counting runs in C: the common unigrams (or
bigrams) of two texts are the LCS of their sorted codes (or sorted bigram keys), and ROUGE-L's LCS
is rapidfuzz's on the code strings (bit-parallel).

ROUGE-Lsum needs more: for every reference sentence, the union of the reference positions that
one LCS with each candidate sentence matches; which LCS is chosen changes the union, so it must
be the one rouge-score's backtrack picks (`_backtrack_norec`). That walk, from the end of the
table L (rows: reference tokens, columns: candidate tokens), is: on a token match take it;
otherwise step up a row when that keeps the LCS length (L[i-1][j] == L[i][j]), else step left.
Read column by column, the walk in column j drops from row i to the highest row i' <= i that is
either a match with candidate token j or a row where column j steps up (L[i'-1][j] < L[i'][j]);
a match is recorded and the walk continues at row i'-1, otherwise at row i' (column j-1 both).

Both sets are bit masks over the reference positions. Column j's step rows are the zero bits of
the bit-parallel LCS vector after j candidate tokens (Allison-Dix / Hyyrö: V' = (V + (V & M)) |
(V & ~M), and the number of zeros below bit i is L[i][j]). All reference sentences sit in one
Python integer, each followed by a guard bit that stops the carries, and each candidate sentence
gets its own copy of that layout in a wider integer, so one pass computes every reference
sentence against every candidate sentence. The backtrack needs "the highest set bit at or below
each sentence's pointer", which integer arithmetic gives only for the lowest set bit
(x & ~(x - 1)); so it runs on bit-reversed masks, where it is the lowest set bit of each
sentence's range, isolated for all sentences at once by one subtraction. The parity tests
compare all of this with rouge-score on thousands of texts, tie-heavy ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from typing import NamedTuple

from rapidfuzz.distance import LCSseq

__all__ = ["Overlaps", "ReferenceIndex", "Text", "analysed"]

_GUARD = chr(0x10FFFF)
"""Ends each sentence in the layout: the last code point, far beyond rouge_tokens' codes."""
_REVERSED_BYTE = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))
_BIT_FLAGS = bytes.maketrans(b"01", b"\x00\x01")
"""A mask's binary digits -> flags for itertools.compress."""
_GROUP_BITS = 4096
"""Candidate sentences whose reference copies fit in this many bits advance together; past it
wider integers cost more than the steps they save."""


class Text(NamedTuple):
    """A text as `ReferenceIndex.compare` reads it, in either role."""

    sentences: list[str]
    """The lines that have tokens, one code character per token."""
    tokens: str
    """All of them, in order."""
    unigrams: list[int]
    """The tokens' codes, sorted."""
    bigrams: list[int]
    """Each pair of adjacent tokens (across sentences, as rouge-score counts them), sorted."""


def analysed(sentences: list[str]) -> Text:
    """The Text of code sentences (rouge_tokens.line_tokens' result)."""
    tokens = "".join(sentences)
    unigrams = _codes(tokens)
    unigrams.sort()
    bigrams = _bigrams(tokens)
    bigrams.sort()
    return Text(sentences, tokens, unigrams, bigrams)


def _in_common(sorted_a: list[int], sorted_b: list[int]) -> int:
    """How many items two sorted sequences share, each counted at most as often as in either (a
    multiset intersection, as rouge-score's n-gram counts take it): their LCS, since sorted
    sequences align equal runs with each other, which rapidfuzz finds in C."""
    return LCSseq.similarity(sorted_a, sorted_b)


class Overlaps(NamedTuple):
    unigrams: int
    """Tokens in common, each counted at most as often as in either text."""
    bigrams: int
    """Bigrams in common (across sentences, as rouge-score counts them), likewise."""
    lcs: int
    """Length of the LCS of the two token sequences."""
    summary_hits: int | None
    """rouge-score's `_summary_level_lcs` hits; None when not asked for."""


class ReferenceIndex:
    """One reference, prepared for comparing any candidate with it."""

    __slots__ = ("_all", "_guards", "_layout_codes", "_positions", "_width", "text")

    def __init__(self, text: Text) -> None:
        self.text = text
        sentences = text.sentences
        # Bit p of a mask is position p of the layout: the sentences, each followed by a guard
        # (a code no token ever gets)
        layout = _GUARD.join(sentences) + _GUARD if sentences else ""
        positions: dict[str, int] = {}  # token code -> mask of its positions
        get = positions.get
        for offset, token in enumerate(layout):
            positions[token] = get(token, 0) | 1 << offset
        self._guards = positions.pop(_GUARD, 0)
        self._width = len(layout)
        self._all = ((1 << self._width) - 1) ^ self._guards
        self._positions = positions
        self._layout_codes = _codes(layout)

    def compare(self, candidate: Text, *, union_lcs: bool) -> Overlaps:
        """A candidate's overlaps with the reference; `union_lcs` also computes ROUGE-Lsum's hits."""
        reference = self.text
        unigrams = _in_common(candidate.unigrams, reference.unigrams)
        bigrams = _in_common(candidate.bigrams, reference.bigrams)
        lcs = LCSseq.similarity(reference.tokens, candidate.tokens)
        if not union_lcs:
            return Overlaps(unigrams, bigrams, lcs, None)

        positions = self._positions
        sharing = [sentence for sentence in candidate.sentences if not positions.keys().isdisjoint(sentence)]
        per_group = max(1, _GROUP_BITS // max(self._width, 1))
        union = 0
        for start in range(0, len(sharing), per_group):
            union |= self._union(sharing[start : start + per_group], positions)
        # rouge-score walks the union tokens in order, counting one while both token budgets last;
        # the reference budget never runs out (each union position is distinct), so the order
        # does not matter: a token counts min(union occurrences, candidate occurrences) times.
        # The union's tokens: the layout's codes where the mask's binary digits (lowest first) are 1.
        in_union = sorted(compress(self._layout_codes, bin(union)[:1:-1].encode().translate(_BIT_FLAGS)))
        return Overlaps(unigrams, bigrams, lcs, _in_common(candidate.unigrams, in_union))

    def _union(self, candidates: Sequence[str], positions: dict[str, int]) -> int:
        """Mask of the reference positions that rouge-score's LCS of each reference sentence with
        each of `candidates` matches. Candidate k works on its own copy of the reference layout,
        bits [k * width, (k + 1) * width) of one integer, so all of them advance together; the
        shorter ones are padded at the front with tokens that match nothing (in the backtrack
        they come last, where they change nothing)."""
        width, count = self._width, len(candidates)
        comb = sum(1 << (k * width) for k in range(count))  # x * comb: a copy of x in every block
        all_bits = self._all * comb
        steps_total = max(map(len, candidates))
        matches_by_step = [0] * steps_total  # each step's match masks, all blocks
        masks_of = positions.get
        for k, sentence in enumerate(candidates):
            shift = k * width
            for step, mask in enumerate(map(masks_of, sentence), steps_total - len(sentence)):
                if mask:
                    matches_by_step[step] |= mask << shift

        # Forward: the bit-parallel LCS vector of every block after each step
        vector = all_bits
        vectors = []
        for matches in matches_by_step:
            matches &= vector
            vector = ((vector + matches) | (vector - matches)) & all_bits
            vectors.append(vector)

        # Backtrack on bit-reversed masks (reversed inline: this loop is the hot path). Per
        # sentence of every block, `allowed` holds the rows the walk may still visit (all of them
        # at first); above each sentence sits a guard bit (the previous sentence's guard; the first
        # of all gets one past the top).
        nbytes = max(1, (count * width + 7) // 8)
        guards = self._guards * comb
        guards_above = _reverse(guards ^ (1 << (count * width - 1)), nbytes) | 1 << (8 * nbytes)
        lowest = _reverse(guards >> 1, nbytes)  # each sentence's last token
        allowed = _reverse(all_bits, nbytes)
        reversed_byte, from_bytes = _REVERSED_BYTE, int.from_bytes
        union = 0
        for vector, matches in zip(reversed(vectors), reversed(matches_by_step), strict=True):
            # the vector's zero bits: the rows where this column steps up
            steps = from_bytes((all_bits ^ vector).to_bytes(nbytes, "little").translate(reversed_byte), "big")
            matching = from_bytes(matches.to_bytes(nbytes, "little").translate(reversed_byte), "big") if matches else 0
            guarded = ((steps | matching) & allowed) | guards_above  # each guard stops the borrow below it
            first = guarded & ~(guarded - lowest)  # per sentence: its lowest set bit (its guard if none)
            matched = first & matching
            union |= matched
            # A match leaves the rows above it (guard - 2 first), a step row leaves itself and the
            # rows above (guard - first); a sentence whose `first` is its guard has no rows left.
            allowed = guards_above - first - matched
            if not allowed:
                break
        union = _reverse(union, nbytes)
        folded = 0
        for k in range(count):
            folded |= union >> (k * width)
        return folded & self._all


def _reverse(mask: int, nbytes: int) -> int:
    """`mask`'s lowest 8 * nbytes bits in reverse order."""
    return int.from_bytes(mask.to_bytes(nbytes, "little").translate(_REVERSED_BYTE), "big")


def _codes(text: str) -> list[int]:
    """The code points of `text` (surrogatepass: the code table hands out surrogates too)."""
    return memoryview(text.encode("utf-32-le", "surrogatepass")).cast("I").tolist()


def _bigrams(text: str) -> list[int]:
    """Each pair of adjacent codes as one integer, the two 32-bit codes side by side: read in C
    from the text's UTF-32 bytes, and cheaper to count than pair strings, which would each be
    built and hashed. (surrogatepass: the code table hands out surrogate code points too.)"""
    data = memoryview(text.encode("utf-32-le", "surrogatepass"))
    pairs_from_even = data[: 8 * (len(text) // 2)].cast("Q").tolist()  # codes 0+1, 2+3, ...
    pairs_from_odd = data[4 : 4 + 8 * max(0, (len(text) - 1) // 2)].cast("Q").tolist()  # 1+2, 3+4, ...
    return pairs_from_even + pairs_from_odd
