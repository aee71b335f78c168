"""Exact, faster n-gram helpers for datatrove's GopherRepetitionFilter, which keeps its own ``filter`` code.

Why not datatrove's helpers: after tokenization, the filter spends most of
its time in them. For every document it builds one joined string per word
position nine times over (top 2-, 3-, 4-grams with ``" ".join``, duplicated
5- to 10-grams with ``"".join``) and counts them in Python loops. Here:

- top n-grams are counted as word sequences (``" ".join`` maps distinct
  sequences to distinct strings when no word contains a space: checked,
  otherwise datatrove's helper runs), in a compiled hash table keyed by word
  hashes; the first most common n-gram and its length are the same;
- duplicated n-grams: datatrove's greedy walk, compiled with numba, over
  polynomial hashes of spans of the words joined once; every hash match is
  confirmed character by character (on a mismatch datatrove's helper
  answers), so the result is exact.

``gopher_repetition_filter`` builds datatrove's class and runs its own
``filter`` function with these helpers in place of the module's (nothing in
datatrove is modified; tests compare every helper with datatrove's). The same
seam records what the filter measured (``RepetitionMeasures``): the duplicate
fractions it compared with its thresholds, stored as signals so a corpus can be
re-cut later without re-running the filter.
"""
from __future__ import annotations

import threading
import types

import numba
import numpy as np


class NGrams:
    """The " "-joined n-grams of ``words``, as datatrove's ``get_n_grams`` lists them, built only if iterated."""

    __slots__ = ("words", "n")

    def __init__(self, words: list[str], n: int):
        self.words, self.n = words, n

    def __len__(self) -> int:
        return max(len(self.words) - self.n + 1, 0)

    def __iter__(self):
        words, n = self.words, self.n
        return (" ".join(words[i : i + n]) for i in range(len(self)))


def get_n_grams(words: list[str], n: int) -> NGrams:
    return NGrams(words, n)


_P1, _P2 = 2_147_483_647, 2_147_483_629  # two 31-bit primes: products of residues fit in uint64
_B1, _B2 = 911_382_323, 972_663_749


@numba.njit(cache=True)
def _prefix_hashes(codes, base, prime):
    """prefix[k]: polynomial hash of codes[:k]; power[k]: base**k (both mod prime)."""
    prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
    power = np.ones(len(codes) + 1, dtype=np.uint64)
    for k in range(len(codes)):
        prefix[k + 1] = (prefix[k] * base + codes[k]) % prime
        power[k + 1] = (power[k] * base) % prime
    return prefix, power


@numba.njit(cache=True)
def _span_key(prefix1, power1, prefix2, power2, start, end):
    """64-bit key of codes[start:end]: its two 31-bit polynomial hashes side by side."""
    first = (prefix1[end] + _P1 - (prefix1[start] * power1[end - start]) % _P1) % _P1
    second = (prefix2[end] + _P2 - (prefix2[start] * power2[end - start]) % _P2) % _P2
    return (first << np.uint64(32)) | second


@numba.njit(cache=True)
def _same_span(codes, start, end, other_start, other_end):
    if end - start != other_end - other_start:
        return False
    for k in range(end - start):
        if codes[start + k] != codes[other_start + k]:
            return False
    return True


@numba.njit(cache=True)
def _empty_table(entries):
    """An open-addressing table for ``entries`` keys: (keys, first position or -1, counts)."""
    size = 1
    while size < 2 * entries + 2:
        size *= 2
    return np.zeros(size, dtype=np.uint64), np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=np.int64)


@numba.njit(cache=True)
def _slot(table_key, table_first, key):
    """Where ``key`` is, or the empty slot where it goes (linear probing)."""
    mask = len(table_key) - 1
    slot = np.int64(key & np.uint64(mask))
    while table_first[slot] != -1 and table_key[slot] != key:
        slot = (slot + 1) & mask
    return slot


@numba.njit(cache=True)
def _repeated_chars(codes, ends, n, prefix1, power1, prefix2, power2):
    """datatrove's greedy walk over the n-grams codes[ends[i]:ends[i + n]]; -1 if two differ but hash alike.

    The seen set is a table of keys (with the first position seen); equal
    n-grams always have equal keys, and a key match is confirmed character by
    character, so the answer is exact or -1 (then the caller runs datatrove's
    helper).
    """
    positions = len(ends) - n
    table_key, table_first, _ = _empty_table(positions)
    repeated, idx = 0, 0
    while idx < positions:
        start, end = ends[idx], ends[idx + n]
        key = _span_key(prefix1, power1, prefix2, power2, start, end)
        slot = _slot(table_key, table_first, key)
        if table_first[slot] == -1:
            table_key[slot] = key
            table_first[slot] = idx
            idx += 1
            continue
        other = table_first[slot]
        if not _same_span(codes, start, end, ends[other], ends[other + n]):
            return -1
        repeated += end - start
        idx += n
    return repeated


class _JoinedWords:
    """One document's words as code points and word-end offsets, with prefix hashes (shared by n = 5..10)."""

    def __init__(self, words: list[str]):
        self.words = words
        self.codes = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        self.has_space = bool((self.codes == 32).any())
        ends = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)), out=ends[1:])
        self.ends = ends
        self.prefix1, self.power1 = _prefix_hashes(self.codes, np.uint64(_B1), np.uint64(_P1))
        self.prefix2, self.power2 = _prefix_hashes(self.codes, np.uint64(_B2), np.uint64(_P2))


_last_joined: _JoinedWords | None = None  # the filter calls the helpers for n = 2..10 on one list


def _joined(words: list[str]) -> _JoinedWords:
    global _last_joined
    joined = _last_joined
    if joined is None or joined.words is not words:
        joined = _last_joined = _JoinedWords(words)
    return joined


def find_all_duplicate(words: list[str], n: int) -> int:
    """Characters in repeated ``"".join``-ed n-grams, with datatrove's greedy skip past each repeat.

    The same walk as datatrove's, compiled, over hashes of spans of the words
    joined once (datatrove joins a new string per position, per n).
    """
    if len(words) < n:
        return 0
    joined = _joined(words)
    repeated = _repeated_chars(joined.codes, joined.ends, n, joined.prefix1, joined.power1,
                               joined.prefix2, joined.power2)
    if repeated < 0:  # two different n-grams hashed alike: let datatrove's helper answer
        from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate as datatrove_all

        return datatrove_all(words, n)
    return int(repeated)


@numba.njit(cache=True)
def _same_words(codes, ends, first, second, n):
    for k in range(n):
        if not _same_span(codes, ends[first + k], ends[first + k + 1], ends[second + k], ends[second + k + 1]):
            return False
    return True


@numba.njit(cache=True)
def _top_ngram_chars(codes, ends, n, prefix1, power1, prefix2, power2):
    """len(" ".join(top)) * count for the most common word n-gram (first seen among equals); -1 on a hash clash."""
    words = len(ends) - 1
    positions = words - n + 1
    word_key = np.empty(words, dtype=np.uint64)
    for w in range(words):
        word_key[w] = _span_key(prefix1, power1, prefix2, power2, ends[w], ends[w + 1])
    table_key, table_first, table_count = _empty_table(positions)
    for i in range(positions):
        key = np.uint64(1469598103934665603)  # FNV-1a over the word keys
        for k in range(n):
            key = (key ^ word_key[i + k]) * np.uint64(1099511628211)
        slot = _slot(table_key, table_first, key)
        if table_first[slot] == -1:
            table_key[slot] = key
            table_first[slot] = i
            table_count[slot] = 1
        elif _same_words(codes, ends, table_first[slot], i, n):
            table_count[slot] += 1
        else:
            return -1
    best_count, best_first = 0, -1
    for slot in range(len(table_key)):
        first = table_first[slot]
        if first == -1:
            continue
        count = table_count[slot]
        if count > best_count or (count == best_count and first < best_first):
            best_count, best_first = count, first
    return (ends[best_first + n] - ends[best_first] + n - 1) * best_count


def find_top_duplicate(n_grams) -> int:
    """Length of the most common n-gram times its count (the first one seen among equals, as ``most_common(1)``)."""
    from datatrove.pipeline.filters.gopher_repetition_filter import find_top_duplicate as datatrove_top

    if not isinstance(n_grams, NGrams) or not len(n_grams):
        return datatrove_top(list(n_grams))
    joined = _joined(n_grams.words)
    if joined.has_space:
        return datatrove_top(list(n_grams))
    top = _top_ngram_chars(joined.codes, joined.ends, n_grams.n, joined.prefix1, joined.power1,
                           joined.prefix2, joined.power2)
    return datatrove_top(list(n_grams)) if top < 0 else int(top)


class RepetitionMeasures(threading.local):
    """The fractions GopherRepetitionFilter computed for the document it last filtered, in this thread.

    Names follow the filter's parameters: ``dup_para_frac``, ``dup_para_char_frac``,
    ``dup_line_frac``, ``dup_line_char_frac``, ``top_<n>_gram_char_frac``,
    ``dup_<n>_gram_char_frac``. The filter stops at the first rule that fails,
    so a dropped document has the values up to and including the failing one.
    """

    def __init__(self):
        self.values: dict[str, float] = {}
        self._text_chars = 0
        self._duplicate_calls = 0

    def start(self, text: str) -> None:
        self.values, self._text_chars, self._duplicate_calls = {}, len(text), 0

    def duplicates(self, elements: int, duplicate_elements: int, duplicate_chars: int) -> None:
        kind = ("para", "line")[min(self._duplicate_calls, 1)]  # the filter splits paragraphs, then lines
        self._duplicate_calls += 1
        self.values[f"dup_{kind}_frac"] = duplicate_elements / elements if elements else 0.0
        self.values[f"dup_{kind}_char_frac"] = self._char_frac(duplicate_chars)

    def n_gram(self, name: str, chars: int) -> None:
        self.values[name] = self._char_frac(chars)

    def _char_frac(self, chars: int) -> float:
        return chars / self._text_chars if self._text_chars else 0.0


def gopher_repetition_filter(**params):
    """datatrove's GopherRepetitionFilter(**params) whose ``filter`` (datatrove's code) calls the helpers above.

    The instance gets ``measures`` (a ``RepetitionMeasures``), filled on every ``filter`` call.
    """
    from datatrove.pipeline.filters import gopher_repetition_filter as module

    instance = module.GopherRepetitionFilter(**params)
    function = module.GopherRepetitionFilter.filter
    helpers = {"find_duplicates", "get_n_grams", "find_top_duplicate", "find_all_duplicate"}
    if helpers - set(function.__code__.co_names):
        # a datatrove release that no longer calls a helper: nothing to replace, run datatrove as is
        return instance
    measures = instance.measures = RepetitionMeasures()

    def measured_duplicates(elements):
        duplicate_elements, duplicate_chars = module.find_duplicates(elements)
        measures.duplicates(len(elements), duplicate_elements, duplicate_chars)
        return duplicate_elements, duplicate_chars

    def measured_top(n_grams):
        chars = find_top_duplicate(n_grams)
        measures.n_gram(f"top_{n_grams.n}_gram_char_frac", chars)
        return chars

    def measured_all(words, n):
        chars = find_all_duplicate(words, n)
        measures.n_gram(f"dup_{n}_gram_char_frac", chars)
        return chars

    namespace = dict(vars(module), find_duplicates=measured_duplicates, get_n_grams=get_n_grams,
                     find_top_duplicate=measured_top, find_all_duplicate=measured_all)
    rebound = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__,
                                 function.__closure__)

    def filter(doc):
        measures.start(doc.text or "")
        return rebound(instance, doc)

    filter.__wrapped__ = rebound
    instance.filter = filter
    return instance
