"""``CandidateDocs``: what the later MinHash steps need from the documents in a candidate edge.

Exact verification needs each endpoint's shingle set and the keeper choice needs
each cluster member's rank. The stage parked its documents on disk with their id
and rank beside them (``transforms.io.spill`` key columns), so this step reads
those two small columns of every parked file past the set of endpoint ids, a
side input, and decodes a document only when it is an endpoint and its shingles
are needed: a document in no candidate edge costs one dictionary lookup, and no
document is grouped or decoded for nothing.
"""
from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.dedup.shingles import ShingleSpec, shingle_set
from transforms.io.spill import DOC, KeyColumn, decode_parked, encode_parked, open_spilled

ID, RANK = "id", "rank"


class _EncodedRank:
    """A document's keep rank, encoded (``spill.encode_parked``: decodes to the same tuple)."""

    def __init__(self, rank):
        self._rank = rank

    def __call__(self, doc: dict) -> bytes:
        return encode_parked(self._rank(doc))


def candidate_keys(rank) -> tuple[KeyColumn, ...]:
    """The key columns the stage parks beside its documents for this step."""
    return (KeyColumn(ID, pa.string(), lambda d: d["id"]), KeyColumn(RANK, pa.binary(), _EncodedRank(rank)))


class _CandidateFn(beam.DoFn):
    def __init__(self, spec: ShingleSpec | None):
        self._spec = spec

    def process(self, described, endpoints):
        with open_spilled(described["path"]) as fh:
            parquet = pq.ParquetFile(fh)
            for group in range(parquet.metadata.num_row_groups):
                keys = parquet.read_row_group(group, columns=[ID, RANK])
                ids = keys.column(ID).to_pylist()
                hits = [i for i, doc_id in enumerate(ids) if doc_id in endpoints]
                if not hits:
                    continue
                for i, rank in zip(hits, keys.column(RANK).take(hits).to_pylist()):
                    yield ids[i], decode_parked(rank)
                if self._spec is not None:
                    docs = parquet.read_row_group(group, columns=[DOC]).column(DOC).take(hits).to_pylist()
                    for i, encoded in zip(hits, docs):
                        text = decode_parked(encoded)["text"]
                        yield beam.pvalue.TaggedOutput("shingles", (ids[i], shingle_set(text, self._spec).tobytes()))


class CandidateDocs(beam.PTransform):
    """``{"parked": descriptions of files parked with ``candidate_keys``, "edges": (v, m)}`` → ``ranks``
    (id, rank) and, with a ``spec``, ``shingles`` (id, sorted distinct shingle hashes as uint64 bytes),
    for every endpoint."""

    def __init__(self, spec: ShingleSpec | None):
        super().__init__()
        self._fn = _CandidateFn(spec)

    def expand(self, inputs):
        endpoints = (
            inputs["edges"]
            | "Endpoints" >> beam.FlatMap(lambda edge: edge)
            | "Distinct" >> beam.Distinct()
            | "AsKeys" >> beam.Map(lambda doc_id: (doc_id, None))
        )
        out = (
            inputs["parked"]
            | "Spread" >> beam.Reshuffle()
            | "Select" >> beam.ParDo(self._fn, beam.pvalue.AsDict(endpoints)).with_outputs("shingles", main="ranks")
        )
        return {"ranks": out.ranks, "shingles": out.shingles}
