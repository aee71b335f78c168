"""``CandidateDocs``: what the later MinHash steps need from the documents in a candidate edge.

Exact verification needs each endpoint's shingle set and the keeper choice needs
each cluster member's rank. Both come from the documents, so the stage reads its
spilled documents back (``transforms.io.spill``) past the set of endpoint ids, a
side input, and emits these compact records for the endpoints only: a document
in no candidate edge costs one dictionary lookup, and no document is grouped.
"""
from __future__ import annotations

import apache_beam as beam

from transforms.dedup.shingles import ShingleSpec, shingle_set


class _CandidateFn(beam.DoFn):
    def __init__(self, rank, spec: ShingleSpec | None):
        self._rank = rank
        self._spec = spec

    def process(self, doc, endpoints):
        if doc["id"] not in endpoints:
            return
        yield doc["id"], self._rank(doc)
        if self._spec is not None:
            yield beam.pvalue.TaggedOutput("shingles", (doc["id"], shingle_set(doc["text"], self._spec).tobytes()))


class CandidateDocs(beam.PTransform):
    """``{"docs": documents, "edges": (v, m)}`` → ``ranks`` (id, rank) and, with a ``spec``,
    ``shingles`` (id, sorted distinct shingle hashes as uint64 bytes), for every endpoint."""

    def __init__(self, rank, spec: ShingleSpec | None):
        super().__init__()
        self._fn = _CandidateFn(rank, spec)

    def expand(self, inputs):
        endpoints = (
            inputs["edges"]
            | "Endpoints" >> beam.FlatMap(lambda edge: edge)
            | "Distinct" >> beam.Distinct()
            | "AsKeys" >> beam.Map(lambda doc_id: (doc_id, None))
        )
        out = inputs["docs"] | "Select" >> beam.ParDo(self._fn, beam.pvalue.AsDict(endpoints)).with_outputs(
            "shingles", main="ranks")
        return {"ranks": out.ranks, "shingles": out.shingles}
