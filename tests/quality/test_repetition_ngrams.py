"""The faster Gopher repetition helpers return exactly what datatrove's return."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.quality_data import mixed_texts
from transforms.quality import repetition_ngrams as ours

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
    datatrove_code = fast.filter.__wrapped__
    assert datatrove_code.__code__ is GopherRepetitionFilter.filter.__code__
    assert datatrove_code.__globals__["get_n_grams"] is ours.get_n_grams
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


def test_measures_are_the_fractions_datatrove_compared():
    """Kept documents get every fraction; each equals datatrove's own helpers over the same text."""
    import re

    from datatrove.data import Document
    from datatrove.pipeline.filters import gopher_repetition_filter as datatrove
    from datatrove.utils.text import split_into_words

    fast = ours.gopher_repetition_filter(language="en")
    checked = dropped_with_failing_value = 0
    for doc_id, text in mixed_texts(per_source=8):
        result = fast.filter(Document(text=text, id=doc_id))
        values = dict(fast.measures.values)
        if result is not True:
            name = re.sub(r"^top_(\d+)_gram$", r"top_\1_gram_char_frac", result[1])  # the rule's measure
            name = re.sub(r"^duplicated_(\d+)_n_grams$", r"dup_\1_gram_char_frac", name)
            dropped_with_failing_value += name in values
            continue
        paragraphs = re.split(r"\n{2,}", text.strip())
        para_dups, para_chars = datatrove.find_duplicates(paragraphs)
        lines = re.split("\n+", text)
        line_dups, line_chars = datatrove.find_duplicates(lines)
        words = split_into_words(text, "en")
        expected = {"dup_para_frac": para_dups / len(paragraphs), "dup_para_char_frac": para_chars / len(text),
                    "dup_line_frac": line_dups / len(lines), "dup_line_char_frac": line_chars / len(text)}
        for n in (2, 3, 4):
            n_grams = datatrove.get_n_grams(words, n)
            if n_grams:
                expected[f"top_{n}_gram_char_frac"] = datatrove.find_top_duplicate(n_grams) / len(text)
        for n in range(5, 11):
            expected[f"dup_{n}_gram_char_frac"] = datatrove.find_all_duplicate(words, n) / len(text)
        assert values == expected, doc_id
        checked += 1
    assert checked >= 10 and dropped_with_failing_value >= 3
