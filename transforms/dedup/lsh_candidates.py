"""``BandCandidates``: band keys → LSH buckets → candidate duplicate edges.

A bucket of k members becomes k - 1 star edges (member, bucket minimum), not
k(k-1)/2 pairs: the connected components are the same, and a large bucket
stays linear. A bucket above ``max_bucket_size`` (a boilerplate band shared by
thousands of documents) is skipped and reported instead of exploding.

Every document has one key per band (14 by default), so the keys outnumber the
documents and grouping them through the runner held gigabytes at a million
documents. Instead the signing workers write their band keys as rows (band hash,
band index, id) to runs sorted by band hash (``transforms.core.keyed_runs``),
and each range of band hashes is read back whole: every key of a bucket is in
one range, so ``bucket_edges`` finds a range's buckets with one numpy sort. The
buckets, and so the edges, are the ones a GroupByKey on (band, hash) gives.
"""
from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa

from transforms.core.key_slices import equal_runs, run_strings
from transforms.core.keyed_runs import KEY, ReadKeyRanges

BAND, ID = "band", "id"


def band_rows(hashes: np.ndarray, ids: list[str]) -> pa.Table:
    """(documents × bands) band hashes and the documents' ids → one row per band key, for ``KeyedRunWriter``."""
    docs, bands = hashes.shape
    return pa.table({
        KEY: pa.array(hashes.ravel(), pa.uint64()),
        BAND: pa.array(np.tile(np.arange(bands, dtype=np.uint32), docs)),
        ID: pa.array(ids, pa.string()).take(np.repeat(np.arange(docs), bands)),
    })


def bucket_edges(rows: pa.Table, max_size: int) -> tuple[list[tuple[str, str]], list[int]]:
    """Band key rows holding every key of their buckets → (star edges (member, bucket minimum), member
    counts of giant buckets)."""
    hashes = rows.column(KEY).to_numpy()
    bands = rows.column(BAND).to_numpy()
    ids = rows.column(ID).combine_chunks()
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
    """One range of band keys → edges (v, m); a giant bucket is skipped and counted."""

    def __init__(self, max_size: int):
        self._max = max_size

    def process(self, rows):
        edges, giant = bucket_edges(rows, self._max)
        yield from edges
        for size in giant:
            yield beam.pvalue.TaggedOutput("giant", size)


class BandCandidates(beam.PTransform):
    """Descriptions of band key runs from ``Signatures`` → ``edges`` (v, m) with v > m, distinct,
    ``giant`` (the member count of every bucket skipped for exceeding ``max_bucket_size``) and
    ``ranges`` (the band key rows read back, one table per key range: to count them)."""

    def __init__(self, max_bucket_size: int):
        super().__init__()
        self._max_bucket_size = max_bucket_size

    def expand(self, runs):
        ranges = runs | "ByBandHash" >> ReadKeyRanges()
        buckets = ranges | "Buckets" >> beam.ParDo(_BucketsFn(self._max_bucket_size)).with_outputs("giant", main="edges")
        return {"edges": buckets.edges | "DistinctEdges" >> beam.Distinct(), "giant": buckets.giant, "ranges": ranges}
