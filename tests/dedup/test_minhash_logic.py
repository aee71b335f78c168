"""Normalization, shingle hashing, signatures and banding, checked against the libraries they mirror."""
from __future__ import annotations

import random

import numpy as np
import pytest
import xxhash
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32
from datatrove.utils.text import simplify_text
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.dedup.minhash_kernels import (
    EMPTY,
    band_keys,
    candidate_probability,
    choose_bands,
    datasketch_signatures,
    estimated_jaccard,
    permutations,
    signature_reference,
    signatures,
)
from transforms.dedup.shingles import (
    ShingleSpec,
    hash_shingles_batch,
    jaccard,
    shingle_set,
    simplify,
    simplify_fast,
)

TRICKY = [
    "Hello, World! It's 3.14159 or 3,5 or 1.2.3 — “quoted” naïve café Ünïcödé ﬁne.",
    "Numbers: ١٢٣٫٤٥ and ०१२ and 12⎖34; tabs\tand\nnewlines\u2003em-space\u00a0nbsp.",
    "Greek question mark\u037e and ano teleia\u0387 and combining a\u0301 e\u0300 alone \u0301 mark.",
    "日本語のテキスト、句読点。中文，标点！ Ελληνικά κείμενο. Русский текст — тире.",
    "   leading and trailing   ",
    "",
    "!!!",
    "one two",
]


def test_simplify_matches_datatrove_tokens(stdlib_docs):
    texts = TRICKY + stdlib_docs
    fast = simplify_fast(texts)
    for text, got in zip(texts, fast):
        want = simplify_text(text).split()
        assert simplify(text).split() == want
        assert got.split() == want
        assert got == " ".join(got.split())  # whitespace folded exactly


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_simplify_fuzz(text):
    want = simplify_text(text).split()
    assert simplify(text).split() == want
    assert simplify_fast([text])[0].split() == want


def test_every_punctuation_mark_datatrove_knows_is_treated_as_simplify_text_does():
    """PUNCTUATION is replaced; TERMINAL_PUNCTUATION (e.g. U+115C9) is kept by simplify_text."""
    from datatrove.utils.text import PUNCTUATION, TERMINAL_PUNCTUATION

    marks = sorted(set(PUNCTUATION) | set(TERMINAL_PUNCTUATION))
    texts = [f"a{m}b {m}" for m in marks]
    assert [t.split() for t in simplify_fast(texts)] == [simplify_text(t).split() for t in texts]


@pytest.mark.parametrize("unit,n", [("word", 5), ("word", 1), ("char", 7)])
def test_kernel_hashes_equal_xxhash_of_shingles(stdlib_docs, unit, n):
    spec = ShingleSpec(n=n, unit=unit)
    texts = TRICKY + stdlib_docs[:30]
    hashes, offsets = hash_shingles_batch(texts, spec)
    for i, text in enumerate(texts):
        want = [xxhash.xxh64_intdigest(s.encode("utf-8")) for s in spec.strings(text)]
        assert hashes[offsets[i] : offsets[i + 1]].tolist() == want


def test_short_text_is_one_shingle_and_empty_has_none():
    spec = ShingleSpec()
    assert spec.strings("Only three words") == ["only three words"]
    assert spec.strings(" ... ") == []


def test_native_signature_is_exact_mod_mersenne():
    rng = np.random.default_rng(0)
    a, b = permutations(112, seed=1)
    docs = [rng.integers(0, 2**64 - 1, size=s, dtype=np.uint64) for s in (1, 7, 300)]
    # hashes at the edges of the range stress the limb arithmetic
    docs.append(np.array([0, 1, 2**61 - 2, 2**61 - 1, 2**61, 2**64 - 1], np.uint64))
    hashes = np.concatenate(docs + [np.zeros(0, np.uint64)])
    offsets = np.cumsum([0] + [len(d) for d in docs] + [0])
    sigs = signatures(hashes, offsets, a, b)
    for i, d in enumerate(docs):
        assert np.array_equal(sigs[i], signature_reference(d.tolist(), a, b))
    assert (sigs[-1] == EMPTY).all()  # no shingles


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_datasketch_mode_equals_datasketch(stdlib_docs, scheme):
    spec = ShingleSpec()
    shingle_sets = [[s.encode("utf-8") for s in spec.strings(t)] for t in stdlib_docs[:20]] + [[]]
    ours = datasketch_signatures(shingle_sets, num_perm=112, seed=7, hashfunc=sha1_hash32, scheme=scheme)
    for row, shingles in zip(ours, shingle_sets):
        m = MinHash(num_perm=112, seed=7, hashfunc=sha1_hash32, scheme=scheme)
        m.update_batch(shingles)
        assert np.array_equal(row, m.hashvalues)


def test_bands_from_threshold_use_datasketch_routine():
    from datasketch.lsh import _optimal_param

    assert choose_bands(0.8, 112) == _optimal_param(0.8, 112, 0.5, 0.5)
    # datatrove's 14x8: a pair at J=0.8 becomes a candidate with p≈0.924 (its docstring)
    assert candidate_probability(0.8, 14, 8) == pytest.approx(0.924, abs=1e-3)


def test_signature_estimates_jaccard_and_bands_collide_for_near_duplicates(stdlib_docs):
    spec = ShingleSpec()
    base = " ".join(stdlib_docs[:6])
    words = base.split()
    random.Random(0).shuffle(idx := list(range(len(words))))
    edited = list(words)
    for i in idx[: len(words) // 40]:
        edited[i] = "edited"
    texts = [base, " ".join(edited), stdlib_docs[50]]
    hashes, offsets = hash_shingles_batch(texts, spec)
    a, b = permutations(112, 1)
    sigs = signatures(hashes, offsets, a, b)
    exact = jaccard(shingle_set(texts[0], spec), shingle_set(texts[1], spec))
    assert 0.5 < exact < 0.95
    assert estimated_jaccard(sigs[0], sigs[1]) == pytest.approx(exact, abs=0.15)
    assert estimated_jaccard(sigs[0], sigs[2]) < 0.1
    k0, k1, k2 = (set(band_keys(s, 14, 8)) for s in sigs)
    assert len(k0) == 14 and not (k0 & k2)
    assert band_keys(sigs[0], 14, 8) == band_keys(sigs[0].copy(), 14, 8)


def test_buckets_from_key_ranges_are_the_buckets_of_all_keys_together(tmp_path):
    """Written to runs by several workers and read back range by range, the band keys give exactly the
    star edges (member → bucket minimum) and giant buckets that grouping every (band, hash) key alone gives."""
    from collections import defaultdict

    from transforms.core.keyed_runs import KeyedRunWriter, key_ranges, read_range
    from transforms.dedup.lsh_candidates import band_rows, bucket_edges

    rng = np.random.default_rng(0)
    n, band_count = 3000, 4
    hashes = rng.integers(0, 2**63, size=(n, band_count), dtype=np.uint64) * np.uint64(2)
    hashes[rng.integers(0, n, 400)] = hashes[rng.integers(0, n, 400)]  # documents sharing every band
    hashes[rng.integers(0, n, 900), 2] = hashes[7, 2]  # one band bucket of ~900: giant at 500
    hashes[rng.integers(0, n, 50), 1] = hashes[7, 2]  # the same hash in another band: another bucket
    ids = [f"doc-{i:05d}" for i in range(n)]
    expected_buckets = defaultdict(set)
    for i in range(n):
        for b in range(band_count):
            expected_buckets[(b, int(hashes[i, b]))].add(ids[i])
    expected_edges, expected_giant = set(), []
    for members in expected_buckets.values():
        if 2 <= len(members) <= 500:
            expected_edges |= {(v, min(members)) for v in members if v != min(members)}
        elif len(members) > 500:
            expected_giant.append(len(members))
    runs = []
    for part in np.array_split(rng.permutation(n), 3):  # three workers, batches of 100 documents
        writer = KeyedRunWriter(str(tmp_path), run_bytes=50_000)
        for batch in np.array_split(part, 10):
            runs += [w for w in [writer.add(band_rows(hashes[batch], [ids[i] for i in batch]))] if w]
        runs += [w for w in [writer.flush()] if w]
    ranges = key_ranges(runs, range_bytes=40_000)
    assert len(runs) > 3 and len(ranges) > 3
    edges, giant = set(), []
    for key_range in ranges:
        e, g = bucket_edges(read_range(key_range), 500)
        edges |= set(e)
        giant += g
    assert expected_edges and expected_giant
    assert edges == expected_edges and sorted(giant) == sorted(expected_giant)


def test_elements_lost_by_a_grouping_are_a_problem_not_a_smaller_result():
    from transforms.dedup.minhash_dedup import lost_element_problems

    clusters = {"clustered_docs": 5, "ranked_members": 5, "decided_docs": 5}
    assert lost_element_problems({"candidate_edges": 10, "verified_edges": 7, "rejected_edges": 3, **clusters}) == []
    assert lost_element_problems({"candidate_edges": 10, "verified_edges": 10, **clusters}) == []  # verify: none
    assert lost_element_problems({}) == []  # no candidates at all
    (problem,) = lost_element_problems({"candidate_edges": 85_916, "verified_edges": 58_523,
                                        "rejected_edges": 13_496, **clusters})
    assert "85,916 candidate edges" in problem and "lost edges" in problem
    # ChooseKeepers' joins: an id lost before its cluster's keeper is chosen, or before it learns it
    (problem,) = lost_element_problems({**clusters, "ranked_members": 4})
    assert "5 clustered documents but 4 ranked" in problem
    (problem,) = lost_element_problems({**clusters, "decided_docs": 3})
    assert "5 clustered documents but 3 told their keeper" in problem
    # rows written to runs on disk and read back by key range
    runs = {"band_keys_written": 140, "band_keys_read": 140, "payloads_written": 30, "payloads_read": 30}
    assert lost_element_problems({**clusters, **runs}) == []
    (problem,) = lost_element_problems({**clusters, **runs, "band_keys_read": 126})
    assert "140 band keys written to runs but 126 read back" in problem
    (problem,) = lost_element_problems({**clusters, **runs, "payloads_read": 31})
    assert "30 candidate payloads written to runs but 31 read back" in problem
