"""Sharded zstd Parquet with deterministic names and bytes.

Why not ``beam.io.WriteToParquet``: its shard count, file names and row order
depend on how the runner bundled the data, so two runs of the same input give
different files. Here the shard count comes from the row count, each row's
shard from its id (or from its global ``_rank`` when a stage such as
``icp_order`` fixed an order), rows are sorted inside a shard, and row groups
are cut at fixed row counts. Same input + config + seed → same sha256.

No grouping holds the documents: workers park them in sorted runs on disk
(``transforms.io.shard_runs``), and once the rows are counted each group of
consecutive shards reads its slice of every run, sorts it and writes its files.
Memory is bounded by ``GROUP_BYTES`` and the shard size, not by the corpus.
"""
from __future__ import annotations

import hashlib
import io
import math
from typing import Callable, Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.core.text_hash import content_id
from transforms.io.shard_runs import (
    HASHED,
    RANK,
    RANKED,
    RUN_BYTES,
    WriteRunsFn,
    delete_runs,
    position_range,
    read_run_slice,
    shard_of,
)
from transforms.io.spill import decode_parked

# How much encoded document text one merge step reads at once: it takes as many consecutive
# shards as fit (at least one), so reads stay few however small the shards are.
GROUP_BYTES = 64 * 2**20


def shard_count(rows: int, shard_rows: int) -> int:
    return max(1, math.ceil(rows / shard_rows))


def shard_name(index: int, total: int) -> str:
    return f"part-{index:05d}-of-{total:05d}.parquet"


# Sort keys are small (a digest stands in for the text, the last tie-breaker): the runs store each
# document's key beside it, so a shard sorts on keys alone and decodes one row group at a time.
def _text_digest(doc: dict) -> str:
    return content_id(doc.get("text") or "")


def document_sort_key(doc: dict) -> tuple:
    if RANK in doc:
        return (doc[RANK], "", "", 0, "")
    return (
        -1,
        doc.get("id") or "",
        doc.get("origin_file") or "",
        doc.get("origin_line") or 0,
        _text_digest(doc),
    )


def rejected_sort_key(doc: dict) -> tuple:
    reject = doc.get("_reject") or {}
    return (
        reject.get("stage") or "",
        reject.get("outcome") or "",
        reject.get("reason") or reject.get("error") or "",
        doc.get("origin_file") or "",
        doc.get("origin_line") or 0,
        doc.get("id") or "",
        _text_digest(doc),
    )


def parquet_bytes(rows: list[dict], schema: pa.Schema, row_group_rows: int, zstd_level: int) -> bytes:
    return table_bytes(pa.Table.from_pylist(rows, schema=schema), row_group_rows, zstd_level)


def table_bytes(table: pa.Table, row_group_rows: int, zstd_level: int) -> bytes:
    """One zstd Parquet file, in memory (written in one piece, so its bytes depend only on the table)."""
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression="zstd",
        compression_level=zstd_level,
        row_group_size=row_group_rows,
        write_statistics=True,
    )
    return buffer.getvalue()


def write_file(path: str, data: bytes) -> None:
    with FileSystems.create(path, mime_type="application/octet-stream") as fh:
        fh.write(data)


class _HashingSink:
    """A write-only file that counts and hashes what passes through (the manifest's size and sha256)."""

    def __init__(self, handle):
        self._handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._handle.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self.closed = True


def write_sorted_shard(path: str, keyed: list[tuple[bytes, bytes]], schema: pa.Schema, to_row, row_group_rows: int,
                       zstd_level: int) -> dict:
    """``(encoded sort key, encoded document)`` pairs → one Parquet file in key order, written row group
    by row group (the same bytes as one ``write_table``); one row group's documents are decoded at a time."""
    keys = [decode_parked(key) for key, _ in keyed]
    order = sorted(range(len(keyed)), key=keys.__getitem__)
    del keys
    with FileSystems.create(path, mime_type="application/octet-stream") as handle:
        sink = _HashingSink(handle)
        writer = pq.ParquetWriter(sink, schema, compression="zstd", compression_level=zstd_level,
                                  write_statistics=True)
        for start in range(0, len(order), row_group_rows):
            rows = [to_row(decode_parked(keyed[i][1])) for i in order[start:start + row_group_rows]]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=row_group_rows)
        writer.close()
    return {"path": path, "rows": len(order), "bytes": sink.size, "sha256": sink.sha256.hexdigest()}


def plan_shard_groups(runs: list[dict], shard_rows: int, group_bytes: int = GROUP_BYTES) -> list[tuple]:
    """``(first shard, end shard, shard count, runs)`` per merge step; none when nothing reached the sink."""
    rows = sum(r["rows"] for r in runs)
    if rows == 0:
        return []
    shards = shard_count(rows, shard_rows)
    bytes_per_shard = sum(r["bytes"] for r in runs) / shards
    per_group = max(1, int(group_bytes // max(1.0, bytes_per_shard)))
    runs = sorted(runs, key=lambda r: r["path"])
    return [(first, min(first + per_group, shards), shards, runs) for first in range(0, shards, per_group)]


class _WriteShardGroupFn(beam.DoFn):
    """One group of consecutive shards: read their slices of every run, split, sort, write each shard."""

    def __init__(self, directory, schema, to_row, shard_rows, row_group_rows, zstd_level):
        self._directory = directory
        self._schema = schema
        self._to_row = to_row
        self._shard_rows = shard_rows
        self._row_group_rows = row_group_rows
        self._zstd_level = zstd_level

    def process(self, group):
        first, end, shards, runs = group
        by_shard: dict[int, list[tuple[bytes, bytes]]] = {}
        for kind in (RANKED, HASHED):
            lo = position_range(kind, first, shards, self._shard_rows)[0]
            hi = position_range(kind, end - 1, shards, self._shard_rows)[1]
            for run in (r for r in runs if r["kind"] == kind):
                positions, keys, encoded = read_run_slice(run, lo, hi)
                for position, key, doc in zip(positions, keys, encoded):
                    by_shard.setdefault(shard_of(kind, position, shards, self._shard_rows), []).append((key, doc))
        for index in sorted(by_shard):  # a shard nothing hashed to is not written
            path = FileSystems.join(self._directory, shard_name(index, shards))
            yield write_sorted_shard(path, by_shard.pop(index), self._schema, self._to_row,
                                     self._row_group_rows, self._zstd_level)


def _clean_up(written: Iterable, runs_dir: str) -> None:
    """Runs are scratch: gone once every shard is written."""
    delete_runs(runs_dir)


def as_parts(pcolls: list) -> dict:
    """Several PCollections as one input of ``WriteParquetShards`` (Beam passes a dict through whole)."""
    return {str(i): pcoll for i, pcoll in enumerate(pcolls)}


class WriteParquetShards(beam.PTransform):
    """Write documents (a PCollection, or a dict of them written as one: ``as_parts``) as
    ``DIR/part-XXXXX-of-YYYYY.parquet``; scratch runs under ``runs_dir``.

    Outputs one ``{path, rows, bytes, sha256}`` per shard written. A shard is
    bounded by ``shard_rows`` (exactly when ranked, in expectation when hashed).
    """

    def __init__(
        self,
        directory: str,
        schema: pa.Schema,
        to_row: Callable[[dict], dict],
        sort_key: Callable[[dict], tuple],
        shard_rows: int,
        row_group_rows: int,
        zstd_level: int,
        runs_dir: str,
        run_bytes: int = RUN_BYTES,
        group_bytes: int = GROUP_BYTES,
    ):
        super().__init__()
        self._directory = directory
        self._schema = schema
        self._to_row = to_row
        self._sort_key = sort_key
        self._shard_rows = shard_rows
        self._row_group_rows = row_group_rows
        self._zstd_level = zstd_level
        self._runs_dir = runs_dir
        self._run_bytes = run_bytes
        self._group_bytes = group_bytes

    def expand(self, docs):
        # Several parts (the rejected rows of every stage) are not flattened first: a flatten of
        # outputs of different stages is a buffer of every document in the local runner. Each part
        # writes its own runs where it is made, and only the run lists meet, as side inputs.
        parts = list(docs.values()) if isinstance(docs, dict) else [docs]
        run_lists = [
            beam.pvalue.AsSingleton(
                part
                | f"WriteRuns[{i}]" >> beam.ParDo(WriteRunsFn(self._runs_dir, self._sort_key, self._run_bytes))
                | f"Runs[{i}]" >> beam.combiners.ToList()
            )
            for i, part in enumerate(parts)
        ]
        pipeline = parts[0].pipeline
        written = (
            pipeline
            | "Start" >> beam.Create([None])
            | "PlanShards" >> beam.FlatMap(lambda _, shard_rows, group_bytes, *lists: plan_shard_groups(
                [run for runs in lists for run in runs], shard_rows, group_bytes),
                self._shard_rows, self._group_bytes, *run_lists)
            | "Spread" >> beam.Reshuffle()
            | "WriteShards" >> beam.ParDo(
                _WriteShardGroupFn(self._directory, self._schema, self._to_row,
                                   self._shard_rows, self._row_group_rows, self._zstd_level)
            )
        )
        _ = (
            written
            | "AllWritten" >> beam.combiners.ToList()
            | "DeleteRuns" >> beam.Map(_clean_up, self._runs_dir)
        )
        return written
