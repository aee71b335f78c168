"""``CandidateDocs``: what the later MinHash steps need from the documents in a candidate edge.

Verification needs each endpoint's payload (its shingle set, or its signature)
beside its star's center, and the keeper choice needs each cluster member's
rank. The stage parked its documents on disk with their id and rank beside them
(``transforms.io.spill`` key columns), so this step reads those two small
columns of every parked file past the endpoints and their star centers, a side
input, and decodes a document only when it is an endpoint and a payload is
needed: a document in no candidate edge costs one dictionary lookup, and no
document is grouped or decoded for nothing. Each payload goes straight to its
star's center, so it crosses one grouping once per star it is in.
"""
from __future__ import annotations

from typing import Callable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.dedup.shingles import ShingleSpec, shingle_set
from transforms.io.spill import DOC, EncodedKey, KeyColumn, decode_parked, open_spilled

ID, RANK = "id", "rank"


def candidate_keys(rank) -> tuple[KeyColumn, ...]:
    """The key columns the stage parks beside its documents for this step."""
    return (KeyColumn(ID, pa.string(), lambda d: d["id"]), KeyColumn(RANK, pa.binary(), EncodedKey(rank)))


class ShinglePayload:
    """Texts → each one's sorted distinct shingle hashes as uint64 bytes: the ``verify: exact`` payload."""

    def __init__(self, spec: ShingleSpec):
        self._spec = spec

    def __call__(self, texts: list[str]) -> list[bytes]:
        return [shingle_set(text, self._spec).tobytes() for text in texts]


class _CandidateFn(beam.DoFn):
    def __init__(self, payload: Callable[[list[str]], list[bytes]] | None):
        self._payload = payload

    def process(self, described, centers):
        with open_spilled(described["path"]) as fh:
            parquet = pq.ParquetFile(fh)
            for group in range(parquet.metadata.num_row_groups):
                keys = parquet.read_row_group(group, columns=[ID, RANK])
                ids = keys.column(ID).to_pylist()
                hits = [i for i, doc_id in enumerate(ids) if doc_id in centers]
                if not hits:
                    continue
                for i, rank in zip(hits, keys.column(RANK).take(hits).to_pylist()):
                    yield ids[i], decode_parked(rank)
                if self._payload is not None:
                    docs = parquet.read_row_group(group, columns=[DOC]).column(DOC).take(hits).to_pylist()
                    payloads = self._payload([decode_parked(encoded)["text"] for encoded in docs])
                    for i, payload in zip(hits, payloads):
                        for center in centers[ids[i]]:
                            yield beam.pvalue.TaggedOutput("by_center", (center, (ids[i], payload)))


def star_centers(edge: tuple[str, str]) -> list[tuple[str, str]]:
    """A star edge (v, m) → (endpoint, its star's center) for both endpoints: the center is its own."""
    v, m = edge
    return [(v, m), (m, m)]


class CandidateDocs(beam.PTransform):
    """``{"parked": descriptions of files parked with ``candidate_keys``, "edges": (v, m)}`` → ``ranks``
    (id, rank) for every endpoint and, with a ``payload`` function, ``by_center``: (m, (id, payload)) for
    every star center m and every endpoint of its star (m itself included), what ``verify_edges`` groups."""

    def __init__(self, payload: Callable[[list[str]], list[bytes]] | None):
        super().__init__()
        self._fn = _CandidateFn(payload)

    def expand(self, inputs):
        centers = (
            inputs["edges"]
            | "Centers" >> beam.FlatMap(star_centers)
            | "Distinct" >> beam.Distinct()
            | "ByEndpoint" >> beam.GroupByKey()
            | "Listed" >> beam.MapTuple(lambda doc_id, ms: (doc_id, sorted(ms)))
        )
        out = (
            inputs["parked"]
            | "Spread" >> beam.Reshuffle()
            | "Select" >> beam.ParDo(self._fn, beam.pvalue.AsDict(centers)).with_outputs("by_center", main="ranks")
        )
        return {"ranks": out.ranks, "by_center": out.by_center}
