"""Input readers through Beam file I/O, so ``gs://`` and other filesystems work.

Readers do not judge records: each line (JSONL), row (Parquet) or file (text
directory) becomes a *raw record* carrying its bytes and its origin (file and
1-based line). ``transforms.normalize`` decides what is a document. Files are
read whole by one worker (that is what gives exact line numbers). The file
list is reshuffled so files spread over workers; the records themselves are
redistributed only when asked (``redistribute``), because that costs a full
shuffle and pays only for inputs of a few huge files.
"""
from __future__ import annotations

import os
import re
from typing import Callable, Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes

from transforms.outcomes import describe_error

JSONL = "jsonl"
PARQUET = "parquet"
TEXT = "text"
FORMATS = (JSONL, PARQUET, TEXT)

_CHUNK = 1 << 20
_GLOB_CHARS = re.compile(r"[*?\[]")


def pattern_base(pattern: str) -> str:
    """The directory part of a glob before its first wildcard (for short origin names)."""
    match = _GLOB_CHARS.search(pattern)
    head = pattern if match is None else pattern[: match.start()]
    return head.rsplit("/", 1)[0] + "/" if "/" in head else ""


def relative_origin(path: str, base: str) -> str:
    return path[len(base):] if base and path.startswith(base) else os.path.basename(path)


def iter_lines(read: Callable[[int], bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """Split a byte stream into ``(line_no, line, truncated)`` with bounded memory.

    A line longer than ``max_line_bytes`` is cut to that length and flagged, and
    the rest of it is skipped, so one huge line cannot exhaust a worker.
    """
    line_no = 0
    pending = bytearray()
    truncated = False
    while True:
        chunk = read(_CHUNK)
        if not chunk:
            break
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            if not truncated:
                room = max_line_bytes - len(pending)
                if len(piece) > room:
                    pending += piece[:room]
                    truncated = True
                else:
                    pending += piece
            if nl < 0:
                break
            line_no += 1
            yield line_no, bytes(pending.rstrip(b"\r")), truncated
            pending = bytearray()
            truncated = False
            start = nl + 1
    if pending or truncated:
        line_no += 1
        yield line_no, bytes(pending.rstrip(b"\r")), truncated


def raw_record(origin_file: str, origin_line: int | None, **fields) -> dict:
    return {"origin_file": origin_file, "origin_line": origin_line, **fields}


class _ReadFileFn(beam.DoFn):
    def __init__(self, fmt: str, base: str, max_line_bytes: int):
        self._fmt = fmt
        self._base = base
        self._max_line_bytes = max_line_bytes

    def process(self, readable: fileio.ReadableFile):
        path = readable.metadata.path
        origin = relative_origin(path, self._base)
        line = None
        try:
            if self._fmt == JSONL:
                with readable.open(compression_type=CompressionTypes.AUTO) as fh:
                    for line, data, truncated in iter_lines(fh.read, self._max_line_bytes):
                        yield raw_record(origin, line, _raw=data, _truncated=truncated)
            elif self._fmt == TEXT:
                with readable.open(compression_type=CompressionTypes.AUTO) as fh:
                    data = fh.read(self._max_line_bytes + 1)
                yield raw_record(
                    origin, None, _raw=data[: self._max_line_bytes],
                    _truncated=len(data) > self._max_line_bytes, _whole_file=True,
                )
            else:
                yield from self._read_parquet(readable, origin)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is quarantined, not fatal
            after = f" after line {line}" if line else ""
            yield raw_record(origin, line, _read_error=f"{describe_error(exc)}{after}")

    def _read_parquet(self, readable, origin):
        import pyarrow.parquet as pq

        with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            parquet = pq.ParquetFile(fh)
            line = 0
            for batch in parquet.iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    line += 1
                    yield raw_record(origin, line, _record=row)


class ReadInputs(beam.PTransform):
    """Read every pattern (local or remote) as raw records, then spread them out."""

    def __init__(self, patterns: list[str], fmt: str, max_line_bytes: int, redistribute: bool = False):
        super().__init__()
        self._redistribute = redistribute
        if fmt not in FORMATS:
            raise ValueError(f"unknown input format {fmt!r}; expected one of {FORMATS}")
        self._patterns = patterns
        self._fmt = fmt
        self._max_line_bytes = max_line_bytes

    def expand(self, pbegin):
        reads = []
        for i, pattern in enumerate(self._patterns):
            reads.append(
                pbegin
                | f"Match{i}" >> fileio.MatchFiles(pattern)
                | f"SpreadFiles{i}" >> beam.Reshuffle()
                | f"Open{i}" >> fileio.ReadMatches()
                | f"Read{i}" >> beam.ParDo(
                    _ReadFileFn(self._fmt, pattern_base(pattern), self._max_line_bytes)
                )
            )
        records = reads | "FlattenInputs" >> beam.Flatten()
        if self._redistribute:
            records = records | "SpreadRecords" >> beam.Reshuffle()
        return records
