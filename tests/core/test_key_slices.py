"""Keys grouped by slice find the same equal keys as grouping each key alone."""
from collections import Counter, defaultdict

import numpy as np

from transforms.core.key_slices import equal_runs, open_slice, slice_chunks, string_array
from transforms.dedup.exact_dedup import duplicates, hash_key, slice_duplicates
from transforms.io.unique_ids import id_key, repeated_ids


def test_string_chunks_cross_the_wire_as_their_own_rows_only():
    """A chunk's strings are taken (fresh buffers), so pickling one carries its rows, not its parent's."""
    import pickle

    strings = ["a", "", "naïve – ünïcode", "x" * 300, "b"] + [f"id-{i}" for i in range(10_000)]
    rows = np.arange(len(strings), dtype=np.uint64)
    keys = np.where(rows < 16, rows, (rows % np.uint64(15) + np.uint64(1)) << np.uint64(60))  # top 4 bits: 0 for 16 rows
    [(slice0, chunk), *_] = slice_chunks(keys, (), string_array(strings), 4)
    assert slice0 == 0 and chunk[2].to_pylist() == strings[:16]
    assert len(pickle.dumps(chunk[2])) < 1000
    _, _, both = open_slice([chunk, chunk], ())
    assert both.to_pylist() == strings[:16] * 2


def _sliced(rows_by_worker, bits, dtypes):
    """Each worker's (key, columns, string) rows → the chunks of every slice, as a GroupByKey would gather them."""
    slices = defaultdict(list)
    for rows in rows_by_worker:
        keys = np.array([r[0] for r in rows], np.uint64)
        columns = tuple(np.array([r[1][i] for r in rows], d) for i, d in enumerate(dtypes))
        for key, chunk in slice_chunks(keys, columns, string_array(r[2] for r in rows), bits):
            slices[key].append(chunk)
    return slices


def test_equal_runs_are_the_groups_of_equal_keys_across_slices_and_workers():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**64, size=2000, dtype=np.uint64)
    keys[rng.integers(0, 2000, 300)] = keys[rng.integers(0, 2000, 300)]
    low = rng.integers(0, 3, size=2000).astype(np.uint64)  # equal keys split further by a column
    rows = [(int(k), (int(c),), f"s{i}") for i, (k, c) in enumerate(zip(keys, low))]
    expected = defaultdict(set)
    for k, (c,), s in rows:
        expected[(k, c)].add(s)
    expected = {frozenset(v) for v in expected.values() if len(v) > 1}
    found = set()
    for chunks in _sliced([rows[:700], rows[700:]], 4, (np.uint64,)).values():
        k, (c,), strings = open_slice(chunks, (np.uint64,))
        for run in equal_runs(k, c):
            assert len(set(k[run].tolist())) == 1 and len(set(c[run].tolist())) == 1
            found.add(frozenset(strings.take(run).to_pylist()))
    assert expected and found == expected


def test_exact_and_id_decisions_from_slices_match_grouping_every_key():
    texts = ["alpha beta", "alpha  beta", "gamma", "delta", "gamma", "alpha beta\n"]
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)] + [{"id": "d3", "text": "other"}]
    by_hash = defaultdict(list)
    for d in docs[:-1]:
        by_hash[hash_key(d)[:2]].append(d["id"])
    expected = {pair for ids in by_hash.values() for pair in duplicates(ids)}
    found = set()
    for chunks in _sliced([[hash_key(d) for d in docs[:3]], [hash_key(d) for d in docs[3:-1]]], 8,
                          (np.uint64,)).values():
        found |= set(slice_duplicates(chunks))
    assert found == expected == {("d1", "d0"), ("d5", "d0"), ("d4", "d2")}
    ids = Counter(d["id"] for d in docs)
    repeated = [i for chunks in _sliced([[id_key(d) for d in docs]], 8, ()).values() for i in repeated_ids(chunks)]
    assert repeated == [i for i, n in ids.items() if n > 1] == ["d3"]
