"""``VerifyEdges``: keep a candidate edge only if its two documents really are similar.

LSH candidates include pairs below the threshold (a pair at J = 0.7 collides
with p ≈ 0.6 under 14×8 bands). Each edge meets both endpoints' payloads by
two joins on id, so no worker holds more than one document's neighbourhood.
"""
from __future__ import annotations

from typing import Literal

import apache_beam as beam
import numpy as np

from transforms.dedup.minhash_kernels import estimated_jaccard
from transforms.dedup.shingles import jaccard


def _attach_first(keyed):
    """CoGroupByKey(edges by m, payload) → (v, (m, payload of m))."""
    m, grouped = keyed
    payload = next(iter(grouped["payload"]), None)
    if payload is None:
        return
    for v in grouped["edges"]:
        yield v, (m, payload)


class _VerifyFn(beam.DoFn):
    def __init__(self, mode: str, threshold: float):
        self._mode = mode
        self._threshold = threshold

    def process(self, keyed):
        v, grouped = keyed
        payload = next(iter(grouped["payload"]), None)
        if payload is None:
            return
        mine = np.frombuffer(payload, np.uint64)
        for m, theirs in grouped["edges"]:
            other = np.frombuffer(theirs, np.uint64)
            sim = estimated_jaccard(mine, other) if self._mode == "signature" else jaccard(mine, other)
            if sim >= self._threshold:
                yield v, m
            else:
                yield beam.pvalue.TaggedOutput("rejected", 1)


class VerifyEdges(beam.PTransform):
    """``{"edges": (v, m), "payload": (id, uint64 bytes)}`` → ``edges`` whose similarity
    reaches ``threshold``, and ``rejected`` (one element per edge that did not).

    ``mode`` "exact": the payload is each document's sorted shingle hashes and the
    similarity is their exact Jaccard; "signature": the payload is the MinHash
    signature and the similarity its estimate.
    """

    def __init__(self, mode: Literal["signature", "exact"], threshold: float):
        super().__init__()
        self._mode = mode
        self._threshold = threshold

    def expand(self, inputs):
        payload = inputs["payload"]
        with_m = (
            {"edges": inputs["edges"] | "ByMin" >> beam.Map(lambda e: (e[1], e[0])), "payload": payload}
            | "JoinMin" >> beam.CoGroupByKey()
            | "AttachMin" >> beam.FlatMap(_attach_first)
        )
        verified = (
            {"edges": with_m, "payload": payload}
            | "JoinMember" >> beam.CoGroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(self._mode, self._threshold)).with_outputs("rejected", main="edges")
        )
        return {"edges": verified.edges, "rejected": verified.rejected}
