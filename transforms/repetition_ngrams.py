"""Exact, faster n-gram helpers for datatrove's GopherRepetitionFilter, which keeps its own ``filter`` code.

Why not datatrove's helpers: after tokenization, the filter spends most of
its time in them. For every document it builds one joined string per word
position nine times over (top 2-, 3-, 4-grams with ``" ".join``, duplicated
5- to 10-grams with ``"".join``) and counts them in Python loops. Here:

- top n-grams are counted as word tuples with ``Counter`` over ``zip`` (C
  speed). ``" ".join`` maps distinct tuples to distinct strings when no word
  contains a space (checked; otherwise datatrove's helper runs), so the
  counts, the first most common n-gram and its length are the same;
- duplicated n-grams are slices of the words joined once, and when no
  n-gram repeats (most documents) the answer is 0 without datatrove's greedy
  walk, which otherwise runs unchanged over the same strings.

``gopher_repetition_filter`` builds datatrove's class and runs its own
``filter`` function with these helpers in place of the module's (nothing in
datatrove is modified; tests compare every helper with datatrove's).
"""
from __future__ import annotations

import types
from collections import Counter
from itertools import accumulate, compress
from operator import itemgetter, ne


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


def find_top_duplicate(n_grams) -> int:
    """Length of the most common n-gram times its count (the first one seen among equals, as ``most_common(1)``)."""
    from datatrove.pipeline.filters.gopher_repetition_filter import find_top_duplicate as datatrove_top

    if not isinstance(n_grams, NGrams) or " " in "".join(n_grams.words):
        return datatrove_top(list(n_grams))
    words, n = n_grams.words, n_grams.n
    counts = Counter(zip(*(words[k:] for k in range(n))))
    top, count = max(counts.items(), key=itemgetter(1))
    return (sum(map(len, top)) + n - 1) * count


def find_all_duplicate(words: list[str], n: int) -> int:
    """Characters in repeated ``"".join``-ed n-grams, with datatrove's greedy skip past each repeat.

    datatrove walks every position; a position whose n-gram never occurred
    earlier cannot be a repeat, so runs of such positions are added to the
    seen set at once and the walk only stops where an n-gram recurs.
    """
    if len(words) < n:
        return 0
    joined = "".join(words)
    ends = list(accumulate(map(len, words), initial=0))
    keys = list(map(joined.__getitem__, map(slice, ends, ends[n:])))  # "".join(words[i : i + n]) for each i
    first_index = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
    if len(first_index) == len(keys):
        return 0  # nothing recurs: the walk would add every n-gram and count nothing
    recurring = list(compress(range(len(keys)), map(ne, map(first_index.__getitem__, keys), range(len(keys)))))
    seen: set[str] = set()
    repeated_chars, idx = 0, 0
    for position in recurring:
        if position < idx:
            continue  # skipped over by an earlier repeat
        seen.update(keys[idx:position])  # first occurrences: never repeats, each is added and stepped over
        key = keys[position]
        if key in seen:
            repeated_chars += len(key)
            idx = position + n
        else:
            seen.add(key)
            idx = position + 1
    return repeated_chars


def gopher_repetition_filter(**params):
    """datatrove's GopherRepetitionFilter(**params) whose ``filter`` (datatrove's code) calls the helpers above."""
    from datatrove.pipeline.filters import gopher_repetition_filter as module

    instance = module.GopherRepetitionFilter(**params)
    function = module.GopherRepetitionFilter.filter
    missing = {"get_n_grams", "find_top_duplicate", "find_all_duplicate"} - set(function.__code__.co_names)
    if missing:  # a datatrove release that no longer calls a helper: nothing to replace, run datatrove as is
        return instance
    namespace = dict(vars(module), get_n_grams=get_n_grams, find_top_duplicate=find_top_duplicate,
                     find_all_duplicate=find_all_duplicate)
    rebound = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__,
                                 function.__closure__)
    instance.filter = types.MethodType(rebound, instance)
    return instance
