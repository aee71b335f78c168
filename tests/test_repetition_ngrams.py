"""The faster Gopher repetition helpers return exactly what datatrove's return."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from tests.quality_data import mixed_texts
from transforms import repetition_ngrams as ours

# short words that collide when joined without a separator ("ab"+"c" == "a"+"bc"), and one with a space
WORDS = st.lists(st.sampled_from(["a", "b", "ab", "c", "bc", "abc", "the", "of", ".", "x y", ""]), max_size=60)


@settings(max_examples=1500, deadline=None)
@given(WORDS, st.integers(min_value=1, max_value=10))
def test_helpers_equal_datatrove(words, n):
    from datatrove.pipeline.filters import gopher_repetition_filter as datatrove

    assert ours.find_all_duplicate(words, n) == datatrove.find_all_duplicate(words, n)
    n_grams = ours.get_n_grams(words, n)
    expected = datatrove.get_n_grams(words, n)
    assert list(n_grams) == expected and len(n_grams) == len(expected) and bool(n_grams) == bool(expected)
    if expected:
        assert ours.find_top_duplicate(n_grams) == datatrove.find_top_duplicate(expected)


def test_filter_runs_datatrove_code_with_these_helpers_and_decides_the_same():
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherRepetitionFilter

    fast = ours.gopher_repetition_filter(language="en")
    assert type(fast) is GopherRepetitionFilter
    assert fast.filter.__func__.__code__ is GopherRepetitionFilter.filter.__code__
    assert fast.filter.__func__.__globals__["find_all_duplicate"] is ours.find_all_duplicate
    reference = GopherRepetitionFilter(language="en")
    decisions = set()
    for doc_id, text in mixed_texts(per_source=25):
        mine = fast.filter(Document(text=text, id=doc_id))
        assert mine == reference.filter(Document(text=text, id=doc_id)), doc_id
        decisions.add(mine if isinstance(mine, bool) else mine[1])
    assert len(decisions) >= 3  # kept, and more than one rule fired


def test_a_hash_match_between_different_ngrams_is_caught_and_datatrove_answers():
    import numpy as np
    from datatrove.pipeline.filters import gopher_repetition_filter as datatrove

    words = ["one", "two", "three", "four", "five", "six", "seven", "eight"]
    joined = ours._JoinedWords(words)
    flat = np.zeros_like(joined.prefix1)  # every span hashes to 0: each match must be checked by characters
    assert ours._repeated_chars(joined.codes, joined.ends, 2, flat, joined.power1, flat, joined.power2) == -1
    repeated = words + words
    joined = ours._JoinedWords(repeated)
    flat = np.zeros_like(joined.prefix1)
    # with real hashes the repeat is counted; with flat ones the first different pair is caught
    assert ours.find_all_duplicate(repeated, 5) == datatrove.find_all_duplicate(repeated, 5) > 0
    assert ours._repeated_chars(joined.codes, joined.ends, 5, flat, joined.power1, flat, joined.power2) == -1
    assert ours._top_ngram_chars(joined.codes, joined.ends, 2, flat, joined.power1, flat, joined.power2) == -1
    same = ours._JoinedWords(["la"] * 6)  # all hashes alike and all n-grams equal: counted, not a clash
    flat = np.zeros_like(same.prefix1)
    assert ours._top_ngram_chars(same.codes, same.ends, 2, flat, same.power1, flat, same.power2) == 5 * 5
