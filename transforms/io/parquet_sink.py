"""Sharded zstd Parquet with deterministic names and bytes.

Why not ``beam.io.WriteToParquet``: its shard count, file names and row order
depend on how the runner bundled the data, so two runs of the same input give
different files. Here the shard count comes from the row count, each row's
shard from its id (or from its global ``_rank`` when a stage such as
``icp_order`` fixed an order), rows are sorted inside a shard, and the file is
written in one piece. Same input + config + seed → same sha256.
"""
from __future__ import annotations

import hashlib
import io
import math
from typing import Callable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.core.text_hash import stable_bucket

RANK = "_rank"


def shard_count(rows: int, shard_rows: int) -> int:
    return max(1, math.ceil(rows / shard_rows))


def shard_name(index: int, total: int) -> str:
    return f"part-{index:05d}-of-{total:05d}.parquet"


def document_sort_key(doc: dict) -> tuple:
    if RANK in doc:
        return (doc[RANK], "", "", 0, "")
    return (
        -1,
        doc.get("id") or "",
        doc.get("origin_file") or "",
        doc.get("origin_line") or 0,
        doc.get("text") or "",
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
        doc.get("text") or "",
    )


def shard_of(doc: dict, shards: int, shard_rows: int) -> int:
    """Contiguous ranges of ``_rank`` when an order was fixed; else a stable hash of the id."""
    if RANK in doc:
        return min(doc[RANK] // shard_rows, shards - 1)
    key = doc.get("id") or f"{doc.get('origin_file')}:{doc.get('origin_line')}"
    return stable_bucket(key, shards)


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


class _WriteShardFn(beam.DoFn):
    def __init__(self, directory, schema, to_row, sort_key, row_group_rows, zstd_level):
        self._directory = directory
        self._schema = schema
        self._to_row = to_row
        self._sort_key = sort_key
        self._row_group_rows = row_group_rows
        self._zstd_level = zstd_level

    def process(self, keyed, shards):
        index, docs = keyed
        rows = [self._to_row(d) for d in sorted(docs, key=self._sort_key)]
        data = parquet_bytes(rows, self._schema, self._row_group_rows, self._zstd_level)
        path = FileSystems.join(self._directory, shard_name(index, shards))
        write_file(path, data)
        yield {
            "path": path,
            "rows": len(rows),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


class WriteParquetShards(beam.PTransform):
    """Write a PCollection of documents as ``DIR/part-XXXXX-of-YYYYY.parquet``.

    Each shard is grouped onto one worker and sorted there; a shard is bounded
    by ``shard_rows`` (exactly when ranked, in expectation when hashed).
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
    ):
        super().__init__()
        self._directory = directory
        self._schema = schema
        self._to_row = to_row
        self._sort_key = sort_key
        self._shard_rows = shard_rows
        self._row_group_rows = row_group_rows
        self._zstd_level = zstd_level

    def expand(self, docs):
        shard_rows = self._shard_rows
        shards = beam.pvalue.AsSingleton(
            docs
            | "CountRows" >> beam.combiners.Count.Globally()
            | "ShardCount" >> beam.Map(shard_count, shard_rows)
        )
        return (
            docs
            | "AssignShard" >> beam.Map(lambda d, n: (shard_of(d, n, shard_rows), d), shards)
            | "GroupShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(
                _WriteShardFn(
                    self._directory,
                    self._schema,
                    self._to_row,
                    self._sort_key,
                    self._row_group_rows,
                    self._zstd_level,
                ),
                shards,
            )
        )
