"""``VerifyEdges``: keep a candidate edge only if its two documents really are similar.

LSH candidates include pairs below the threshold (a pair at J = 0.7 collides
with p ≈ 0.6 under 14×8 bands). Every candidate edge is a star edge (v, m), m
its bucket's minimum, so gathering the payloads by star center brings each
edge's two endpoints together: ``candidate_docs`` writes every payload once per
star it is in, keyed by a hash of the center, and each range of that key is
read back whole (``transforms.core.keyed_runs``), so a star is never split and
no worker holds more than one range.
"""
from __future__ import annotations

from typing import Iterator, Literal

import apache_beam as beam
import numpy as np
import pyarrow as pa

from transforms.core.keyed_runs import ReadKeyRanges
from transforms.dedup.candidate_docs import CENTER, ID, PAYLOAD
from transforms.dedup.minhash_kernels import estimated_jaccard
from transforms.dedup.shingles import jaccard


def stars(rows: pa.Table) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Payload rows holding every row of their stars → (center, {endpoint id: payload}) per star."""
    by_center: dict[str, dict[str, bytes]] = {}
    for center, doc_id, payload in zip(rows.column(CENTER).to_pylist(), rows.column(ID).to_pylist(),
                                       rows.column(PAYLOAD).to_pylist()):
        by_center.setdefault(center, {})[doc_id] = payload
    yield from by_center.items()


class _VerifyFn(beam.DoFn):
    def __init__(self, mode: str, threshold: float):
        self._mode = mode
        self._threshold = threshold

    def process(self, rows):
        for m, payloads in stars(rows):
            center = payloads.pop(m, None)
            if center is None:
                continue
            theirs = np.frombuffer(center, np.uint64)
            for v, payload in payloads.items():
                mine = np.frombuffer(payload, np.uint64)
                sim = estimated_jaccard(mine, theirs) if self._mode == "signature" else jaccard(mine, theirs)
                if sim >= self._threshold:
                    yield v, m
                else:
                    yield beam.pvalue.TaggedOutput("rejected", 1)


class VerifyEdges(beam.PTransform):
    """Descriptions of payload runs (``candidate_docs``) → ``edges`` (v, m) whose similarity reaches
    ``threshold``, ``rejected`` (one element per edge that did not) and ``ranges`` (the payload rows
    read back, one table per key range: to count them).

    ``mode`` "exact": the payload is each document's sorted shingle hashes and the
    similarity is their exact Jaccard; "signature": the payload is the MinHash
    signature and the similarity its estimate.
    """

    def __init__(self, mode: Literal["signature", "exact"], threshold: float):
        super().__init__()
        self._mode = mode
        self._threshold = threshold

    def expand(self, payload_runs):
        ranges = payload_runs | "ByCenter" >> ReadKeyRanges()
        verified = ranges | "Verify" >> beam.ParDo(_VerifyFn(self._mode, self._threshold)).with_outputs(
            "rejected", main="edges")
        return {"edges": verified.edges, "rejected": verified.rejected, "ranges": ranges}
