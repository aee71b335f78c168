"""``BandCandidates``: band keys → LSH buckets → candidate duplicate edges.

A bucket of k members becomes k - 1 star edges (member, bucket minimum), not
k(k-1)/2 pairs: the connected components are the same, and a large bucket
stays linear. A bucket above ``max_bucket_size`` (a boilerplate band shared by
thousands of documents) is skipped and reported instead of exploding.

Every document has one key per band, so grouping by bucket key would move
(bands × documents) elements through the shuffle and call a DoFn once per
bucket, nearly all of them singletons. Instead the signing workers send their
band keys in chunks, one per slice of the key space, ids in one Arrow array
(``transforms.core.key_slices``): a GroupByKey on the slice gathers every key
that can share a bucket, and ``bucket_edges`` finds the buckets of a slice with
one numpy sort. The buckets, and so the edges, are the same; only the number
and size of the elements change.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa

from transforms.core.key_slices import equal_runs, open_slice, run_strings, slice_chunks

PARTITION_BITS = 12  # 4,096 slices of the 64-bit key space: small slices at any corpus size
BAND_DTYPES = (np.uint32,)  # the chunk's one column: the band index of each key


def partition_chunks(bands: np.ndarray, hashes: np.ndarray, ids: pa.StringArray,
                     id_rows: np.ndarray | None = None) -> Iterator[tuple[int, tuple]]:
    """Band keys (band index, band hash, document id; ``id_rows``: each key's row in ``ids``) →
    ``(slice, chunk)`` per non-empty slice of the band hashes (``key_slices.slice_chunks``)."""
    return slice_chunks(hashes, (bands,), ids, PARTITION_BITS, id_rows)


def bucket_edges(chunks: Iterable[tuple], max_size: int) -> tuple[list[tuple[str, str]], list[int]]:
    """The chunks of one slice → (star edges (member, bucket minimum), member counts of giant buckets)."""
    hashes, (bands,), ids = open_slice(chunks, BAND_DTYPES)
    edges, giant = [], []
    for run in run_strings(ids, equal_runs(bands, hashes)):
        members = set(run)
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
