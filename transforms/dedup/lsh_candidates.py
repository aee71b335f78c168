"""``BandCandidates``: MinHash signatures → LSH buckets → candidate duplicate edges.

A bucket of k members becomes k - 1 star edges (member, bucket minimum), not
k(k-1)/2 pairs: the connected components are the same, and a large bucket
stays linear. A bucket above ``max_bucket_size`` (a boilerplate band shared by
thousands of documents) is skipped and reported instead of exploding.
"""
from __future__ import annotations

import apache_beam as beam
import numpy as np

from transforms.dedup.minhash_kernels import band_keys


class _StarEdgesFn(beam.DoFn):
    """One LSH bucket → edges (member, bucket minimum); a giant bucket is skipped and counted."""

    def __init__(self, max_size: int):
        self._max = max_size

    def process(self, keyed):
        _, ids = keyed
        members = set(ids)
        if len(members) < 2:
            return
        if len(members) > self._max:
            yield beam.pvalue.TaggedOutput("giant", len(members))
            return
        m = min(members)
        for v in members:
            if v != m:
                yield v, m


class BandCandidates(beam.PTransform):
    """(id, signature bytes) → ``edges`` (v, m) with v > m, distinct, and ``giant`` (the
    member count of every bucket skipped for exceeding ``max_bucket_size``)."""

    def __init__(self, bands: int, rows: int, max_bucket_size: int):
        super().__init__()
        self._bands = bands
        self._rows = rows
        self._max_bucket_size = max_bucket_size

    def expand(self, sigs):
        bands, rows = self._bands, self._rows
        buckets = (
            sigs
            | "BandKeys" >> beam.FlatMap(
                lambda kv: ((key, kv[0]) for key in band_keys(np.frombuffer(kv[1], np.uint64), bands, rows))
            )
            | "Buckets" >> beam.GroupByKey()
            | "StarEdges" >> beam.ParDo(_StarEdgesFn(self._max_bucket_size)).with_outputs("giant", main="edges")
        )
        return {"edges": buckets.edges | "DistinctEdges" >> beam.Distinct(), "giant": buckets.giant}
