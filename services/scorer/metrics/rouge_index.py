"""A reference's token positions as bit masks: ROUGE-1's overlap, ROUGE-L's LCS, ROUGE-Lsum's union LCS.

ROUGE-L needs only the LCS length: rapidfuzz computes it in C (bit-parallel). Tokens are first
encoded as the characters of a string (one per distinct reference token, one more for every
token the reference lacks), so equality is exact: no token is hashed into a collision.

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
Python integer, each followed by a guard bit that stops the carries, so one pass over a
candidate sentence computes its LCS with every reference sentence at once. The backtrack needs
"the highest set bit at or below each sentence's pointer", which integer arithmetic gives only for
the lowest set bit (x & ~(x - 1)); so the backtrack runs on bit-reversed masks, where it is the
lowest set bit of each sentence's range, isolated for all sentences at once by one subtraction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import chain, repeat

from rapidfuzz.distance import LCSseq

__all__ = ["ReferenceIndex"]

_REVERSED_BYTE = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))
_MAX_CHARACTER = 0x10FFFF


class ReferenceIndex:
    """One reference (a list of tokenized sentences), prepared for the LCS measures of any candidate."""

    __slots__ = (
        "_all", "_all_reversed", "_codes", "_encoded", "_guards_above", "_join",
        "_lowest", "_nbytes", "_positions", "_reversed",
    )  # fmt: skip

    def __init__(self, sentences: Sequence[Sequence[str]]) -> None:
        positions: dict[str, int] = {}  # token -> mask of its positions; sentence k starts at bit offset_k
        all_bits = 0
        offset = 0
        for sentence in sentences:
            if not sentence:
                continue  # a sentence without tokens matches nothing
            for token in sentence:
                positions[token] = positions.get(token, 0) | 1 << offset
                offset += 1
            all_bits |= (1 << offset) - (1 << (offset - len(sentence)))
            offset += 1  # the guard bit after each sentence absorbs its carries
        self._positions = positions
        self._all = all_bits

        self._nbytes = max(1, (offset + 7) // 8)
        top = 8 * self._nbytes - 1  # bit p of a mask is bit top - p of its reversal
        guards_above = lowest = start = 0
        for sentence in sentences:
            if sentence:
                guards_above |= 1 << (top - start + 1)
                lowest |= 1 << (top - start - len(sentence) + 1)
                start += len(sentence) + 1
        self._guards_above = guards_above
        self._lowest = lowest
        self._all_reversed = self._reverse(all_bits)
        self._reversed: dict[str, int] = {}  # token -> reversed positions, made when a candidate needs them

        # One symbol per distinct token, one more for all others; characters while there are enough
        symbols = range(len(positions) + 1)
        if len(positions) < _MAX_CHARACTER:
            symbols = map(chr, symbols)
            self._join = "".join
        else:
            self._join = list
        self._codes = dict(zip(chain(positions, [None]), symbols))
        self._encoded = self._join(map(self._codes.__getitem__, chain.from_iterable(sentences)))

    def length(self, candidate: Sequence[str]) -> int:
        """LCS length of the reference's tokens (all sentences, in order) and the candidate's."""
        absent = self._codes[None]  # tokens the reference lacks match nothing: one symbol serves them all
        return LCSseq.similarity(self._encoded, self._join(map(self._codes.get, candidate, repeat(absent))))

    def common_unigrams(self, candidate_counts: Counter[str]) -> int:
        """Tokens the candidate shares with the reference, each counted at most as often as in either."""
        common = candidate_counts.keys() & self._positions.keys()
        in_reference = map(int.bit_count, map(self._positions.__getitem__, common))
        return sum(map(min, in_reference, map(candidate_counts.__getitem__, common)))

    def summary_hits(self, candidate_sentences: Sequence[Sequence[str]], candidate_counts: Counter[str]) -> int:
        """rouge-score's `_summary_level_lcs` hits: the union-LCS tokens of each reference sentence,
        each token counted at most as often as it occurs in the candidate."""
        union = 0
        for sentence in candidate_sentences:
            if not self._positions.keys().isdisjoint(sentence):
                union |= self._sentence_union(sentence)
        union = self._reverse(union)
        # rouge-score walks the union tokens in order, counting one while both token budgets last;
        # the reference budget never runs out (each union position is distinct), so the order
        # does not matter: a token counts min(union occurrences, candidate occurrences) times.
        common = candidate_counts.keys() & self._positions.keys()
        in_union = map(int.bit_count, map(union.__and__, map(self._positions.__getitem__, common)))
        return sum(map(min, in_union, map(candidate_counts.__getitem__, common)))

    def _reverse(self, mask: int) -> int:
        return int.from_bytes(mask.to_bytes(self._nbytes, "little").translate(_REVERSED_BYTE), "big")

    def _sentence_union(self, sentence: Sequence[str]) -> int:
        """Bit-reversed mask of the reference positions that rouge-score's LCS with `sentence` matches."""
        positions, reversed_positions, all_bits = self._positions, self._reversed, self._all
        # Forward: the bit-parallel LCS vector after each candidate token. It does not change at
        # tokens the reference lacks, and a run of them acts on the backtrack as one such column
        # does: each run is one (vector, None) column. A leading run would come last in the
        # backtrack, where it changes nothing: it is left out.
        vector = all_bits
        columns: list[tuple[int, str | None]] = []
        for token in sentence:
            matches = positions.get(token)
            if matches is None:
                if columns and columns[-1][1] is not None:
                    columns.append((vector, None))
                continue
            matches &= vector
            vector = ((vector + matches) | (vector - matches)) & all_bits
            columns.append((vector, token))

        # Backtrack, every reference sentence at once, on bit-reversed masks: `allowed` holds,
        # per sentence, the rows the walk may still visit (all of them at first).
        guards_above, lowest, nbytes = self._guards_above, self._lowest, self._nbytes
        from_bytes, reversed_byte = int.from_bytes, _REVERSED_BYTE
        allowed = self._all_reversed
        union = steps = 0
        last_vector = None
        for vector, token in reversed(columns):
            if vector is not last_vector:
                # The vector's zero bits are the rows where this column steps up; reversed inline
                # (this loop is the hot path)
                steps = from_bytes((all_bits ^ vector).to_bytes(nbytes, "little").translate(reversed_byte), "big")
                last_vector = vector
            if token is None:
                guarded = (steps & allowed) | guards_above  # each guard stops the borrow below it
                allowed = guards_above - (guarded & ~(guarded - lowest))  # down to the highest step row
                continue
            matching = reversed_positions.get(token)
            if matching is None:
                matching = from_bytes(positions[token].to_bytes(nbytes, "little").translate(reversed_byte), "big")
                reversed_positions[token] = matching
            guarded = ((steps | matching) & allowed) | guards_above
            first = guarded & ~(guarded - lowest)  # per sentence: its lowest set bit (its guard if none)
            matched = first & matching
            union |= matched
            # A match leaves the rows above it (guard - 2 first), a step row leaves itself and the
            # rows above (guard - first); a sentence whose `first` is its guard has no rows left.
            allowed = guards_above - first - matched
            if not allowed:
                break
        return union
