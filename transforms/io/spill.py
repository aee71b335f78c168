"""Documents parked on disk inside one pipeline, so that a decision made on compact keys
can be applied to them without routing the documents through a grouping.

A stage that must see every key before it can decide about any document (unique
ids, exact and near-duplicate removal, the sink's shard count) would otherwise
hold the documents until then. On Beam's local runner (FnApiRunner) every
PCollection that crosses a stage boundary (a GroupByKey, a ParDo waiting on a
side input, a Flatten of different stages' outputs) is held in the runner
process's memory, so that hold is the whole corpus. Instead the stage writes its
documents once to Parquet files, decides on compact keys, and reads the files
back past the decision, a side input. Only file descriptions and keys cross a
boundary: memory stays flat as the corpus grows, disk holds the documents.

Why not ``WriteToParquet``/``ReadAllFromParquet``: a document read back here
carries its *address* (file, row), the one key that tells apart two records
identical in every field, and key columns beside the JSON let a decision read
a few small columns instead of every document. Files go through Beam's
``FileSystems``, so on Dataflow the same graph writes to the run's staging
directory on GCS.

Rows are the key columns plus the document encoded with Beam's own element
coder (``FastPrimitivesCoder``, what the runner would have used to carry it
between stages): documents come back exactly as they went in, at a tenth of
JSON's cost. Parked files are scratch of one run; what outlives a run is JSON
(``--resume`` stage outputs, ``transforms.io.checkpoint``) or the final schema.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.coders.coders import FastPrimitivesCoder
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.transforms.window import GlobalWindows

SPILL_DIR = "spill"  # under the run's work directory, which the run deletes when it ends
DOC = "doc"
ADDRESS = "_address"  # (file path, row): where a read-back document or key row was parked
# A worker holds at most this much of encoded documents before writing a file.
RUN_BYTES = 32 * 2**20
# Reading back decodes a whole row group at once: small groups keep a reader's memory small.
ROW_GROUP_ROWS = 256


_CODER = FastPrimitivesCoder()


def encode_parked(value: Any) -> bytes:
    return _CODER.encode(value)


def decode_parked(data: bytes) -> Any:
    return _CODER.decode(data)


class EncodedKey:
    """A key column's function whose result is stored encoded (``encode_parked``): any tuple, decoded
    back to the same tuple. Picklable, unlike a lambda over ``of``."""

    def __init__(self, of: Callable[[dict], Any]):
        self._of = of

    def __call__(self, doc: dict) -> bytes:
        return encode_parked(self._of(doc))


def spill_dir(work_dir: str, label: str, name: str = "docs") -> str:
    return FileSystems.join(work_dir, SPILL_DIR, label, name)


@dataclass(frozen=True)
class KeyColumn:
    """A compact column written beside each document, for decisions that need only keys."""

    name: str
    type: pa.DataType
    of: Callable[[dict], Any]


class SpillWriter:
    """Documents → Parquet files of at most ``run_bytes`` of encoded documents, optionally sorted by one key column.

    ``add`` and ``flush`` return the description of a file they wrote
    (``{path, rows, bytes}``, plus ``first``/``last`` of the sort column), else None.
    """

    def __init__(self, directory: str, prefix: str = "part", keys: tuple[KeyColumn, ...] = (),
                 sort_by: str | None = None, run_bytes: int = RUN_BYTES, row_group_rows: int = ROW_GROUP_ROWS):
        self._directory = directory
        self._prefix = prefix
        self._keys = keys
        self._sort_by = sort_by
        self._run_bytes = run_bytes
        self._row_group_rows = row_group_rows
        self._schema = pa.schema([(k.name, k.type) for k in keys] + [(DOC, pa.binary())])
        self._rows: list[tuple] = []
        self._bytes = 0

    def add(self, doc: dict) -> dict | None:
        encoded = encode_parked(doc)
        self._rows.append(tuple(k.of(doc) for k in self._keys) + (encoded,))
        self._bytes += len(encoded)
        return self.flush() if self._bytes >= self._run_bytes else None

    def flush(self) -> dict | None:
        if not self._rows:
            return None
        rows, size = self._rows, self._bytes
        self._rows, self._bytes = [], 0
        if self._sort_by is not None:
            column = [k.name for k in self._keys].index(self._sort_by)
            rows.sort(key=lambda row: row[column])
        table = pa.table([pa.array([row[i] for row in rows], field.type) for i, field in enumerate(self._schema)],
                         schema=self._schema)
        del rows
        # A fresh name per file: a retried bundle writes new files, and only files whose
        # descriptions reach the reader (through the writer's committed output) are read.
        path = FileSystems.join(self._directory, f"{self._prefix}-{uuid.uuid4().hex}.parquet")
        with FileSystems.create(path, "application/octet-stream", CompressionTypes.UNCOMPRESSED) as fh:
            pq.write_table(table, fh, compression="zstd", compression_level=1, row_group_size=self._row_group_rows)
        described = {"path": path, "rows": table.num_rows, "bytes": size}
        if self._sort_by is not None:
            sorted_column = table.column(self._sort_by)
            described.update(first=sorted_column[0].as_py(), last=sorted_column[-1].as_py())
        return described


class _SpillFn(beam.DoFn):
    def __init__(self, directory: str, keys: tuple[KeyColumn, ...]):
        self._directory = directory
        self._keys = keys

    def start_bundle(self):
        self._writer = SpillWriter(self._directory, keys=self._keys)

    def process(self, doc):
        written = self._writer.add(doc)
        if written:
            yield written

    def finish_bundle(self):
        written = self._writer.flush()
        if written:
            yield GlobalWindows.windowed_value(written)


class SpillDocuments(beam.PTransform):
    """Documents → descriptions of the Parquet files that hold them (available once all are written)."""

    def __init__(self, directory: str, keys: tuple[KeyColumn, ...] = ()):
        super().__init__()
        self._directory = directory
        self._keys = keys

    def expand(self, docs):
        return docs | "Write" >> beam.ParDo(_SpillFn(self._directory, self._keys))


def open_spilled(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _ReadSpilledFn(beam.DoFn):
    def __init__(self, columns: list[str] | None, with_address: bool):
        self._columns = columns
        self._with_address = with_address

    def process(self, described):
        path = described["path"]
        with open_spilled(path) as fh:
            parquet = pq.ParquetFile(fh)
            row = 0
            for group in range(parquet.metadata.num_row_groups):
                table = parquet.read_row_group(group, columns=self._columns or [DOC])
                for values in table.to_pylist():
                    if self._columns:
                        yield {**values, ADDRESS: (path, row)}
                    elif self._with_address:
                        yield (path, row), decode_parked(values[DOC])
                    else:
                        yield decode_parked(values[DOC])
                    row += 1


class ReadSpilled(beam.PTransform):
    """File descriptions from ``SpillDocuments`` → the documents, spread over workers by file.

    ``columns``: only those key columns, as dicts with the row's ``_address``;
    ``with_address``: ``(address, document)`` pairs; else the documents.
    """

    def __init__(self, columns: list[str] | None = None, with_address: bool = False):
        super().__init__()
        self._columns = columns
        self._with_address = with_address

    def expand(self, described):
        return (
            described
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadSpilledFn(self._columns, self._with_address))
        )
