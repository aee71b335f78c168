"""The sink's sorted runs: documents parked on disk in order of their shard position.

A document's shard depends on the shard count, which depends on how many
documents reach the sink, so no document can be placed until all are counted.
Holding them until then (a GroupByKey, or a ParDo waiting on the count as a side
input) is what made a local run's memory grow with the corpus: FnApiRunner keeps
such PCollections in the runner process. Instead each worker writes what it is
given in runs of at most ``RUN_BYTES``, each sorted by a *position* that does not
depend on the shard count:

- ``ranked``: the document's ``_rank``, when a stage (``icp_order``) fixed an order;
  shard i holds ranks ``[i·shard_rows, (i+1)·shard_rows)``, the last shard the rest;
- ``hashed``: a 64-bit hash of its id; shard i of n holds hashes ``h`` with
  ``⌊h·n / 2⁶⁴⌋ = i``, a contiguous range.

Once the count is known, a shard is one slice of each run, found from the
row groups' statistics. Only run names and counts cross a stage boundary.
Runs are Parquet through Beam's ``FileSystems``, so they work on gs:// as well.
"""
from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from transforms.core.keyed_runs import read_key_range
from transforms.core.text_hash import stable_hash64
from transforms.io.spill import DOC, RUN_BYTES, EncodedKey, KeyColumn, SpillWriter

RANK = "_rank"
RANKED, HASHED = "ranked", "hashed"
POSITION = "position"
SORT_KEY = "sort_key"
# Small row groups: a shard reads whole row groups, so a slice's edges cost at most two of them.
RUN_ROW_GROUP_ROWS = 128
_HASH_SPACE = 1 << 64


def position_of(doc: dict) -> tuple[str, int]:
    """``(kind, position)``: where the document goes, whatever the shard count turns out to be."""
    if RANK in doc:
        return RANKED, int(doc[RANK])
    key = doc.get("id") or f"{doc.get('origin_file')}:{doc.get('origin_line')}"
    return HASHED, stable_hash64(key)


def position_range(kind: str, shard: int, shards: int, shard_rows: int) -> tuple[int, int | None]:
    """Positions ``[lo, hi)`` of ``shard`` of ``shards``; ``hi`` is None for the last shard (no bound)."""
    last = shard == shards - 1
    if kind == RANKED:
        return shard * shard_rows, None if last else (shard + 1) * shard_rows
    return -(-(shard * _HASH_SPACE) // shards), None if last else -(-((shard + 1) * _HASH_SPACE) // shards)


def shard_of(kind: str, position: int, shards: int, shard_rows: int) -> int:
    if kind == RANKED:
        return min(position // shard_rows, shards - 1)
    return (position * shards) >> 64


def _position(doc: dict) -> int:
    return position_of(doc)[1]


class WriteRunsFn(beam.DoFn):
    """Documents → run descriptions ``{path, kind, rows, bytes, first, last}``, one per run written.

    Each row holds the position, the document's sort key (so a shard sorts without decoding
    its documents) and the document."""

    def __init__(self, directory: str, sort_key, run_bytes: int = RUN_BYTES):
        self._directory = directory
        self._keys = (KeyColumn(POSITION, pa.uint64(), _position), KeyColumn(SORT_KEY, pa.binary(), EncodedKey(sort_key)))
        self._run_bytes = run_bytes

    def start_bundle(self):
        self._writers = {
            kind: SpillWriter(self._directory, kind, self._keys, sort_by=POSITION, run_bytes=self._run_bytes,
                              row_group_rows=RUN_ROW_GROUP_ROWS)
            for kind in (RANKED, HASHED)
        }

    def process(self, doc):
        kind = RANKED if RANK in doc else HASHED
        written = self._writers[kind].add(doc)
        if written:
            yield {**written, "kind": kind}

    def finish_bundle(self):
        for kind, writer in self._writers.items():
            written = writer.flush()
            if written:
                yield GlobalWindows.windowed_value({**written, "kind": kind})


def read_run_slice(run: dict, lo: int, hi: int | None) -> tuple[list[int], list[bytes], list[bytes]]:
    """Positions, sort keys and encoded documents of the run's rows with ``lo <= position < hi``."""
    table = read_key_range(run, lo, hi, key=POSITION)
    if table is None:
        return [], [], []
    return table.column(POSITION).to_pylist(), table.column(SORT_KEY).to_pylist(), table.column(DOC).to_pylist()


def delete_runs(directory: str) -> None:
    """Remove every run under ``directory`` (through ``FileSystems``: local or gs://)."""
    try:
        found = FileSystems.match([FileSystems.join(directory, "*.parquet")])[0].metadata_list
    except Exception:  # noqa: BLE001 - no run was written (an empty input)
        return
    if found:
        FileSystems.delete([m.path for m in found])
