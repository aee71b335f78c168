"""Materialized stage outputs for resumable runs: pipeline documents as Parquet, losslessly
(``transforms.io.document_json``'s staged rows, sharded and sorted like the sinks)."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.io.document_json import STAGED_SCHEMA, from_staged_row, to_staged_row
from transforms.io.parquet_sink import WriteParquetShards


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
