"""Materialized stage outputs for resumable runs: pipeline documents as Parquet, losslessly.

A stage's output must come back exactly as the next stage would have seen it
in one pipeline, including pipeline-internal keys (``_reject``, ``_rank``,
``_raw`` bytes) and values the final schema reshapes (``signals`` as a dict).
So each row holds the whole document as JSON (bytes tagged and base64-coded;
JSON floats round-trip exactly) next to its ``id`` for inspection.
"""
from __future__ import annotations

import base64
import json

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.io.parquet_sink import WriteParquetShards

STAGED_SCHEMA = pa.schema([("id", pa.string()), ("doc", pa.string())])
_BYTES = "__corpusmill_bytes__"


def _encode(value):
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot materialize a value of type {type(value).__name__}")


def _decode(obj: dict):
    if len(obj) == 1 and _BYTES in obj:
        return base64.b64decode(obj[_BYTES])
    return obj


def to_staged_row(doc: dict) -> dict:
    return {"id": doc.get("id"), "doc": json.dumps(doc, ensure_ascii=False, default=_encode)}


def from_staged_row(row: dict) -> dict:
    return json.loads(row["doc"], object_hook=_decode)


class WriteStaged(WriteParquetShards):
    """Documents → ``DIR/part-*.parquet`` in the staged schema (same sharding and sort as the sinks;
    the sink's scratch runs under ``DIR/_runs``, removed once the shards are written)."""

    def __init__(self, directory: str, sort_key, shard_rows: int, zstd_level: int):
        super().__init__(directory, STAGED_SCHEMA, to_staged_row, sort_key, shard_rows, shard_rows, zstd_level,
                         FileSystems.join(directory, "_runs"))


class ReadStaged(beam.PTransform):
    """``DIR/part-*.parquet`` → documents; an empty stage output (no files) is an empty PCollection."""

    def __init__(self, directory: str):
        super().__init__()
        self._pattern = FileSystems.join(directory, "part-*.parquet")

    def expand(self, pbegin):
        try:
            found = FileSystems.match([self._pattern])[0].metadata_list
        except Exception:  # noqa: BLE001 - no directory: the stage kept nothing
            found = []
        if not found:
            return pbegin | "Nothing" >> beam.Create([])
        return pbegin | "Read" >> beam.io.ReadFromParquet(self._pattern) | "Decode" >> beam.Map(from_staged_row)
