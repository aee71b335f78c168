"""A grouping by 64-bit key that goes through files instead of the runner.

A GroupByKey on FnApiRunner, Beam's local runner, holds everything it groups in
the runner process until the grouping is complete. At a million documents, two
of ``minhash_dedup``'s groupings were over 2 GB there: the LSH band keys (14 per
document) and the candidates' shingle sets. Slicing the keys into compact chunks
(``key_slices``) cuts the per-element cost, not the bytes.

Here the workers that make the rows write them to Parquet files instead, in
runs sorted by a uint64 ``key`` column; only the runs' descriptions cross the
runner. Once all runs are written, the key space is cut into equal ranges of
about ``RANGE_BYTES`` each (keys are hashes, so rows spread evenly) and each
range is read back from every run, using the row groups' statistics to skip
what lies outside it. Every row with a given key is in the same range, so a
range is a complete group for every key in it: the groups a GroupByKey gives,
with no process ever holding more than a range. Files go through Beam's
``FileSystems`` (local or gs://), under a directory the run deletes.
"""
from __future__ import annotations

import math
import uuid

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import CompressionTypes, FileSystems

KEY = "key"
# A writer holds at most this much of Arrow data before it writes a run.
RUN_BYTES = 64 * 2**20
# About this much of every run's rows makes one range: what one reader holds at once.
RANGE_BYTES = 64 * 2**20
# Row groups of about this size: a range reads at most two row groups of a run it does not need.
GROUP_BYTES = 2**20
_KEY_SPACE = 1 << 64


class KeyedRunWriter:
    """Arrow tables with a uint64 ``key`` column → Parquet runs sorted by key.

    ``add`` and ``flush`` return the description of a run they wrote
    (``{path, rows, bytes, first, last}``), else None. A fresh name per run: a
    retried bundle writes new files, and only runs whose descriptions reach a
    reader (through the writer's committed output) are read.
    """

    def __init__(self, directory: str, prefix: str = "run", run_bytes: int = RUN_BYTES):
        self._directory = directory
        self._prefix = prefix
        self._run_bytes = run_bytes
        self._tables: list[pa.Table] = []
        self._bytes = 0

    def add(self, table: pa.Table) -> dict | None:
        if table.num_rows:
            self._tables.append(table)
            self._bytes += table.nbytes
        return self.flush() if self._bytes >= self._run_bytes else None

    def flush(self) -> dict | None:
        if not self._tables:
            return None
        table = pa.concat_tables(self._tables).sort_by(KEY).combine_chunks()
        size = self._bytes
        self._tables, self._bytes = [], 0
        group_rows = max(64, int(table.num_rows * GROUP_BYTES / max(1, size)))
        path = FileSystems.join(self._directory, f"{self._prefix}-{uuid.uuid4().hex}.parquet")
        with FileSystems.create(path, "application/octet-stream", CompressionTypes.UNCOMPRESSED) as fh:
            pq.write_table(table, fh, compression="zstd", compression_level=1, row_group_size=group_rows)
        keys = table.column(KEY)
        return {"path": path, "rows": table.num_rows, "bytes": size,
                "first": keys[0].as_py(), "last": keys[-1].as_py()}


def read_key_range(run: dict, lo: int, hi: int | None, key: str = KEY) -> pa.Table | None:
    """The rows of one run with ``lo <= key < hi`` (``hi`` None: no upper bound), or None if it has none.

    ``key`` names the run's sorted uint64 column (the sink's runs call it ``position``)."""
    if run["last"] < lo or (hi is not None and run["first"] >= hi):
        return None
    with FileSystems.open(run["path"], compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        parquet = pq.ParquetFile(fh)
        index = parquet.schema_arrow.get_field_index(key)
        groups = []
        for i in range(parquet.metadata.num_row_groups):
            stats = parquet.metadata.row_group(i).column(index).statistics
            if stats.max >= lo and (hi is None or stats.min < hi):
                groups.append(i)
        if not groups:
            return None
        table = parquet.read_row_groups(groups)
    keys = table.column(key)
    mask = pc.greater_equal(keys, pa.scalar(lo, pa.uint64()))
    if hi is not None:
        mask = pc.and_(mask, pc.less(keys, pa.scalar(hi, pa.uint64())))
    table = table.filter(mask)
    return table if table.num_rows else None


def key_ranges(runs: list[dict], range_bytes: int = RANGE_BYTES) -> list[tuple[int, int | None, list[dict]]]:
    """``(lo, hi, runs that overlap it)`` for equal ranges of the key space, about ``range_bytes`` each."""
    if not runs:
        return []
    count = max(1, math.ceil(sum(r["bytes"] for r in runs) / range_bytes))
    runs = sorted(runs, key=lambda r: r["path"])
    ranges = []
    for i in range(count):
        lo = -(-(i * _KEY_SPACE) // count)
        hi = None if i == count - 1 else -(-((i + 1) * _KEY_SPACE) // count)
        overlapping = [r for r in runs if r["last"] >= lo and (hi is None or r["first"] < hi)]
        if overlapping:
            ranges.append((lo, hi, overlapping))
    return ranges


def read_range(key_range: tuple[int, int | None, list[dict]]) -> pa.Table | None:
    """Every run's rows in one range as one table (not sorted across runs), or None if there are none."""
    lo, hi, runs = key_range
    tables = [t for t in (read_key_range(run, lo, hi) for run in runs) if t is not None]
    return pa.concat_tables(tables).combine_chunks() if tables else None


class ReadKeyRanges(beam.PTransform):
    """Run descriptions (every one a ``KeyedRunWriter`` wrote) → one table per key range that holds rows.

    A key's rows all arrive in one table. The ranges are planned once every run is
    written, then spread over the workers."""

    def expand(self, runs):
        return (
            runs
            | "AllRuns" >> beam.combiners.ToList()
            | "PlanRanges" >> beam.FlatMap(key_ranges)
            | "Spread" >> beam.Reshuffle()
            | "ReadRange" >> beam.FlatMap(lambda key_range: [t for t in [read_range(key_range)] if t is not None])
        )
