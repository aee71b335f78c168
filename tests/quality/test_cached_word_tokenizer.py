"""The chunk-cached word tokenizer gives exactly datatrove's SpaCyTokenizer tokens."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.quality_data import mixed_texts
from transforms.quality.cached_word_tokenizer import SharedSpacyTokenizer

# pieces of spaCy's English special cases, affixes and every kind of whitespace it splits on
ATOMS = [":", ")", "(", "'", ".", "s", "O", "o", "-", "D", "p", "=", "[", "]", "_", "^", "<", ">", "3", "8",
         "*", ";", "|", "/", "\\", "¬", "ಠ", "—", "’", "a", "m", "d", "ll", "em", "cause", "bout", "x",
         "can't", "a.m.", "e.g.", "Mr.", "don't", "''", "'s", "http://x.org/a?b=1", "10", "IS_ALPHA",
         " ", " ", " ", "  ", "\n", "\n\n", "\t", "\xa0", "\u2028", "\r\n", "\x0b"]


@pytest.fixture(scope="module")
def tokenizers():
    from datatrove.utils.word_tokenizers import SpaCyTokenizer

    return SpaCyTokenizer("en"), SharedSpacyTokenizer("en")


def test_same_tokens_as_datatrove_on_real_text_cold_and_warm(tokenizers):
    reference, ours = tokenizers
    texts = [t for _, t in mixed_texts(per_source=40)]
    expected = [reference.word_tokenize(t) for t in texts]
    assert [ours.word_tokenize(t) for t in texts] == expected  # chunks mostly unseen
    assert [ours.word_tokenize(t) for t in texts] == expected  # chunks all cached
    assert ours._chunks.runs_by_spacy > 0  # the straddle check fired on real text, and was exact


@pytest.mark.parametrize("text", [
    "x:) )",  # ":" ")" ")" matches ":))" across the space, which stops ":)" from applying inside "x:)"
    "(:  :)\n:) )", "He said :-) ) ok", "I can't.\n\n  'cause :))) :) )", "O.O O.O", "it 's", "a.m .",
    "", " ", "\n\t\xa0", "  leading and trailing  ", "IS_ALPHA and more",
])
def test_same_tokens_where_a_special_case_straddles_whitespace(tokenizers, text):
    reference, ours = tokenizers
    assert ours.word_tokenize(text) == reference.word_tokenize(text)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(ATOMS), max_size=40))
def test_same_tokens_on_special_case_soup(tokenizers, atoms):
    reference, ours = tokenizers
    text = "".join(atoms)
    assert ours.word_tokenize(text) == reference.word_tokenize(text)


def test_bounded_caches_give_the_same_tokens():
    from datatrove.utils.word_tokenizers import SpaCyTokenizer

    reference, ours = SpaCyTokenizer("en"), SharedSpacyTokenizer("en", max_strings=2_000)
    ours.word_tokenize("warm up")
    ours._chunks.max_chunks = 300
    spacy_strings = len(ours._chunks.tokenizer.vocab.strings)
    texts = [t for _, t in mixed_texts(per_source=8)]
    assert [ours.word_tokenize(t) for t in texts] == [reference.word_tokenize(t) for t in texts]
    assert len(ours._chunks.tokens) <= 300 + max(len(set(t.split())) for t in texts)
    # spaCy keeps nothing of the chunks it tokenized (memory zone), and equal edge sets are one object
    assert len(ours._chunks.tokenizer.vocab.strings) == spacy_strings
    edge_sets = list(ours._chunks.partners.values()) + list(ours._chunks.right_starts.values())
    assert edge_sets and len({id(e) for e in edge_sets}) == len(set(edge_sets))
