"""``CandidateDocs``: what the later MinHash steps need from the documents in a candidate edge.

Verification needs each endpoint's payload (its shingle set, or its signature)
beside its star's center, and the keeper choice needs each cluster member's
rank. The stage parked its documents on disk with their id and rank beside them
(``transforms.io.spill`` key columns), so this step reads those two small
columns of every parked file past the endpoints and their star centers, a side
input, and decodes a document only when it is an endpoint and a payload is
needed: a document in no candidate edge costs one dictionary lookup, and no
document is grouped or decoded for nothing. Each payload is written once per
star it is in, keyed by a hash of the star's center, to runs on disk
(``transforms.core.keyed_runs``): at a million documents the payloads are
gigabytes, too much for the local runner to hold in a grouping.
"""
from __future__ import annotations

from typing import Callable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.transforms.window import GlobalWindows

from transforms.core.keyed_runs import KEY, KeyedRunWriter
from transforms.core.text_hash import stable_hash64
from transforms.dedup.shingles import ShingleSpec, shingle_set
from transforms.io.spill import DOC, EncodedKey, KeyColumn, decode_parked, open_spilled

ID, RANK = "id", "rank"
CENTER, PAYLOAD = "center", "payload"


def candidate_keys(rank) -> tuple[KeyColumn, ...]:
    """The key columns the stage parks beside its documents for this step."""
    return (KeyColumn(ID, pa.string(), lambda d: d["id"]), KeyColumn(RANK, pa.binary(), EncodedKey(rank)))


class ShinglePayload:
    """Texts → each one's sorted distinct shingle hashes as uint64 bytes: the ``verify: exact`` payload."""

    def __init__(self, spec: ShingleSpec):
        self._spec = spec

    def __call__(self, texts: list[str]) -> list[bytes]:
        return [shingle_set(text, self._spec).tobytes() for text in texts]


def payload_rows(rows: list[tuple[str, str, bytes]]) -> pa.Table:
    """(star center, endpoint id, payload) → rows keyed by a hash of the center, for ``KeyedRunWriter``."""
    return pa.table({
        KEY: pa.array([stable_hash64(center) for center, _, _ in rows], pa.uint64()),
        CENTER: pa.array([center for center, _, _ in rows], pa.string()),
        ID: pa.array([doc_id for _, doc_id, _ in rows], pa.string()),
        PAYLOAD: pa.array([payload for _, _, payload in rows], pa.binary()),
    })


class _CandidateFn(beam.DoFn):
    def __init__(self, payload: Callable[[list[str]], list[bytes]] | None, runs_dir: str | None):
        self._payload = payload
        self._runs_dir = runs_dir

    def start_bundle(self):
        self._writer = KeyedRunWriter(self._runs_dir, "payloads") if self._payload is not None else None

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
                if self._writer is not None:
                    docs = parquet.read_row_group(group, columns=[DOC]).column(DOC).take(hits).to_pylist()
                    payloads = self._payload([decode_parked(encoded)["text"] for encoded in docs])
                    rows = [(center, ids[i], payload) for i, payload in zip(hits, payloads) for center in centers[ids[i]]]
                    written = self._writer.add(payload_rows(rows))
                    if written:
                        yield beam.pvalue.TaggedOutput("payload_runs", written)

    def finish_bundle(self):
        written = self._writer.flush() if self._writer is not None else None
        if written:
            yield beam.pvalue.TaggedOutput("payload_runs", GlobalWindows.windowed_value(written))


def star_centers(edge: tuple[str, str]) -> list[tuple[str, str]]:
    """A star edge (v, m) → (endpoint, its star's center) for both endpoints: the center is its own."""
    v, m = edge
    return [(v, m), (m, m)]


class CandidateDocs(beam.PTransform):
    """``{"parked": descriptions of files parked with ``candidate_keys``, "edges": (v, m)}`` → ``ranks``
    (id, rank) for every endpoint and, with a ``payload`` function, ``payload_runs``: descriptions of runs
    under ``runs_dir`` holding (center, id, payload) for every star center and every endpoint of its star
    (the center itself included), what ``verify_edges`` reads."""

    def __init__(self, payload: Callable[[list[str]], list[bytes]] | None, runs_dir: str | None = None):
        super().__init__()
        if payload is not None and runs_dir is None:
            raise ValueError("payloads are written to runs: give runs_dir")
        self._fn = _CandidateFn(payload, runs_dir)

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
            | "Select" >> beam.ParDo(self._fn, beam.pvalue.AsDict(centers)).with_outputs("payload_runs", main="ranks")
        )
        return {"ranks": out.ranks, "payload_runs": out.payload_runs}
