"""``VerifyEdges``: keep a candidate edge only if its two documents really are similar.

LSH candidates include pairs below the threshold (a pair at J = 0.7 collides
with p ≈ 0.6 under 14×8 bands). Every candidate edge is a star edge (v, m), m
its bucket's minimum, so grouping the payloads by star center brings each edge's
two endpoints together in one grouping: every payload crosses it once per star
it is in, and no worker holds more than one star.
"""
from __future__ import annotations

from typing import Literal

import apache_beam as beam
import numpy as np

from transforms.dedup.minhash_kernels import estimated_jaccard
from transforms.dedup.shingles import jaccard


class _VerifyFn(beam.DoFn):
    def __init__(self, mode: str, threshold: float):
        self._mode = mode
        self._threshold = threshold

    def process(self, keyed):
        m, endpoints = keyed
        payloads = dict(endpoints)
        center = payloads.pop(m, None)
        if center is None:
            return
        theirs = np.frombuffer(center, np.uint64)
        for v, payload in payloads.items():
            mine = np.frombuffer(payload, np.uint64)
            sim = estimated_jaccard(mine, theirs) if self._mode == "signature" else jaccard(mine, theirs)
            if sim >= self._threshold:
                yield v, m
            else:
                yield beam.pvalue.TaggedOutput("rejected", 1)


class VerifyEdges(beam.PTransform):
    """(m, (id, uint64 payload bytes)) for every star center m and its star's endpoints (``candidate_docs``)
    → ``edges`` (v, m) whose similarity reaches ``threshold``, and ``rejected`` (one element per edge that
    did not).

    ``mode`` "exact": the payload is each document's sorted shingle hashes and the
    similarity is their exact Jaccard; "signature": the payload is the MinHash
    signature and the similarity its estimate.
    """

    def __init__(self, mode: Literal["signature", "exact"], threshold: float):
        super().__init__()
        self._mode = mode
        self._threshold = threshold

    def expand(self, by_center):
        verified = (
            by_center
            | "ByCenter" >> beam.GroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(self._mode, self._threshold)).with_outputs("rejected", main="edges")
        )
        return {"edges": verified.edges, "rejected": verified.rejected}
