"""Dataset Decomposition and concat-and-chunk on lengths alone: every token is covered once, in order."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.packing.curriculum import CURRICULA, curriculum_spec, sampling_weights
from transforms.packing.decompose import concat_chunks, decompose


def test_binary_representation_largest_first():
    pieces, dropped = decompose(256 + 1024 + 512 + 37, min_log2=8, max_log2=13)
    assert [p.length for p in pieces] == [1024, 512, 256]
    assert [p.start for p in pieces] == [0, 1024, 1536]
    assert [p.chunk_index for p in pieces] == [0, 1, 2]
    assert dropped == 37


def test_long_document_takes_largest_chunks_first():
    pieces, dropped = decompose(3 * 8192 + 300, min_log2=8, max_log2=13)
    assert [p.length for p in pieces] == [8192, 8192, 8192, 256]
    assert dropped == 44


def test_exact_power_of_two_above_max_is_largest_chunks_only():
    pieces, dropped = decompose(2 * 8192, 8, 13)
    assert [p.length for p in pieces] == [8192, 8192] and dropped == 0


def test_short_document_is_all_dropped():
    assert decompose(255, 8, 13) == ([], 255)
    assert decompose(0, 8, 13) == ([], 0)


def test_bad_bounds_are_an_error():
    with pytest.raises(ValueError):
        decompose(100, 9, 8)


@settings(deadline=None)
@given(length=st.integers(0, 200_000), lo=st.integers(0, 10), span=st.integers(0, 6))
def test_decompose_conserves_tokens(length, lo, span):
    hi = lo + span
    pieces, dropped = decompose(length, lo, hi)
    start = 0
    for i, piece in enumerate(pieces):
        assert piece.chunk_index == i and piece.start == start
        assert lo <= piece.log2 <= hi
        start += piece.length
    assert start + dropped == length
    assert 0 <= dropped < (1 << lo) or (dropped == length and length < (1 << lo))
    # below the largest bucket, each length appears at most once (the binary representation)
    tail = [p.log2 for p in pieces if p.log2 < hi]
    assert len(tail) == len(set(tail)) and tail == sorted(tail, reverse=True)


@given(lengths=st.lists(st.integers(0, 3000), max_size=30), seq_len=st.integers(1, 1024))
def test_concat_chunks_conserves_tokens(lengths, seq_len):
    sequences, dropped = concat_chunks(lengths, seq_len)
    covered = {}
    for parts in sequences:
        assert sum(t for _, _, t in parts) == seq_len
        for doc, start, take in parts:
            assert covered.get(doc, 0) == start  # documents in order, no gap, no overlap
            covered[doc] = start + take
    assert sum(covered.values()) + dropped == sum(lengths)
    assert 0 <= dropped < seq_len


def test_uniform_weights_follow_tokens_and_grow_p2_favours_short_buckets():
    tokens = {8: 1000, 9: 1000, 10: 0, 13: 2000}
    uniform = sampling_weights("uniform", tokens)
    assert uniform == {8: 0.25, 9: 0.25, 10: 0.0, 13: 0.5}
    grow = sampling_weights("grow_p2", tokens)
    assert grow[8] > grow[9] > grow[13] and grow[10] == 0.0
    assert grow[8] / grow[9] == pytest.approx(2.0)
    assert sum(grow.values()) == pytest.approx(1.0)
    assert sampling_weights("uniform", {8: 0, 9: 0}) == {8: 0.0, 9: 0.0}


def test_curriculum_spec_names_every_curriculum():
    spec = curriculum_spec({8: 512, 9: 0}, {8: 2, 9: 0}, {8: "buckets/len-00256", 9: "buckets/len-00512"})
    assert set(spec["curricula"]) == set(CURRICULA)
    assert spec["buckets"][0] == {"log2": 8, "seq_len": 256, "dir": "buckets/len-00256", "sequences": 2,
                                  "tokens": 512}
    assert spec["curricula"]["grow_p2"]["odds"] == {"8": 2.0, "9": 1.0}
