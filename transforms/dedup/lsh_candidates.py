"""``BandCandidates``: band keys → LSH buckets → candidate duplicate edges.

A bucket of k members becomes k - 1 star edges (member, bucket minimum), not
k(k-1)/2 pairs: the connected components are the same, and a large bucket
stays linear. A bucket above ``max_bucket_size`` (a boilerplate band shared by
thousands of documents) is skipped and reported instead of exploding.

Every document has one key per band, so grouping by bucket key would move
(bands × documents) elements through the shuffle and call a DoFn once per
bucket, nearly all of them singletons. Instead the signing workers send their
band keys in chunks, one per slice of the key space (``partition_chunks``): a
GroupByKey on the slice gathers every key that can share a bucket, and
``bucket_edges`` finds the buckets of a slice with one numpy sort. The
buckets, and so the edges, are the same; only the number of elements changes.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
import numpy as np

PARTITION_BITS = 12  # 4,096 slices of the 64-bit key space: small slices at any corpus size


def partition_chunks(bands: np.ndarray, hashes: np.ndarray, ids: list[str]) -> Iterator[tuple[int, tuple]]:
    """Band keys (band index, band hash, document id) → ``(slice, (bands, hashes, ids))`` per non-empty slice."""
    slices = (hashes >> np.uint64(64 - PARTITION_BITS)).astype(np.int64)
    order = np.argsort(slices, kind="stable")
    slices = slices[order]
    starts = np.flatnonzero(np.r_[True, slices[1:] != slices[:-1]]) if len(order) else np.empty(0, np.int64)
    ends = np.r_[starts[1:], len(order)]
    for start, end in zip(starts.tolist(), ends.tolist()):
        rows = order[start:end]
        yield int(slices[start]), (bands[rows].tobytes(), hashes[rows].tobytes(), [ids[i] for i in rows.tolist()])


def bucket_edges(chunks: Iterable[tuple], max_size: int) -> tuple[list[tuple[str, str]], list[int]]:
    """The chunks of one slice → (star edges (member, bucket minimum), member counts of giant buckets)."""
    chunks = list(chunks)
    bands = np.concatenate([np.frombuffer(c[0], np.uint32) for c in chunks])
    hashes = np.concatenate([np.frombuffer(c[1], np.uint64) for c in chunks])
    ids = [doc_id for c in chunks for doc_id in c[2]]
    order = np.lexsort((hashes, bands))
    bands, hashes = bands[order], hashes[order]
    starts = np.flatnonzero(np.r_[True, (bands[1:] != bands[:-1]) | (hashes[1:] != hashes[:-1])])
    ends = np.r_[starts[1:], len(order)]
    shared = (ends - starts) >= 2
    edges, giant = [], []
    for start, end in zip(starts[shared].tolist(), ends[shared].tolist()):
        members = {ids[i] for i in order[start:end].tolist()}
        if len(members) < 2:
            continue
        if len(members) > max_size:
            giant.append(len(members))
            continue
        m = min(members)
        edges.extend((v, m) for v in members if v != m)
    return edges, giant


class _BucketsFn(beam.DoFn):
    """One slice's chunks → edges (v, m); a giant bucket is skipped and counted."""

    def __init__(self, max_size: int):
        self._max = max_size

    def process(self, keyed):
        edges, giant = bucket_edges(keyed[1], self._max)
        yield from edges
        for size in giant:
            yield beam.pvalue.TaggedOutput("giant", size)


class BandCandidates(beam.PTransform):
    """(slice, band key chunk) from ``Signatures`` → ``edges`` (v, m) with v > m, distinct, and ``giant``
    (the member count of every bucket skipped for exceeding ``max_bucket_size``)."""

    def __init__(self, max_bucket_size: int):
        super().__init__()
        self._max_bucket_size = max_bucket_size

    def expand(self, chunks):
        buckets = (
            chunks
            | "BySlice" >> beam.GroupByKey()
            | "Buckets" >> beam.ParDo(_BucketsFn(self._max_bucket_size)).with_outputs("giant", main="edges")
        )
        return {"edges": buckets.edges | "DistinctEdges" >> beam.Distinct(), "giant": buckets.giant}
