"""Input readers through Beam file I/O, so ``gs://`` and other filesystems work.

Readers do not judge records: each line (JSONL), row (Parquet) or file (text
directory) becomes a *raw record* carrying its bytes and its origin (file and
1-based line). ``transforms.io.normalize`` decides what is a document. Files are
read whole by one worker (that is what gives exact line numbers). The file
list is reshuffled so files spread over workers; the records themselves are
redistributed only when asked (``redistribute``), because that costs a full
shuffle and pays only for inputs of a few huge files.

A file that is cut short or holds bad data (a compressed stream that ends early
or fails its checks, a Parquet file pyarrow cannot read) keeps the records read
before the fault and adds ONE file-level raw record, ``_input_fault``: reason
``truncated_input`` or ``corrupt_input``, compressed bytes read, records read.
In JSONL the bytes after the last newline before the fault (the torn line) are
that record's ``_raw``; they are never parsed as a record of their own.
"""
from __future__ import annotations

import bz2
import io
import lzma
import os
import re
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

import apache_beam as beam
import zstandard
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes

from transforms.core.outcomes import describe_error

JSONL = "jsonl"
PARQUET = "parquet"
TEXT = "text"
WARC = "warc"  # WARC or WET (.warc, .warc.gz, any compression suffix)
FORMATS = (JSONL, PARQUET, TEXT, WARC)

TRUNCATED_INPUT = "truncated_input"
CORRUPT_INPUT = "corrupt_input"

_CHUNK = 1 << 20
# Compressed bytes per decompressor call, as Python's gzip module reads: a decompressor
# error discards that call's output, so this bounds what a corrupt spot takes with it.
_RAW_CHUNK = 8 << 10
_GLOB_CHARS = re.compile(r"[*?\[]")
_PARQUET_MAGIC = b"PAR1"

# The decompressors Beam's CompressedFile uses for each suffix (same libraries, same
# zstd window limit), as factories: one object per gzip member / zstd frame / stream.
_DECOMPRESSORS: dict[str, Callable[[], object]] = {
    CompressionTypes.GZIP: lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    CompressionTypes.DEFLATE: zlib.decompressobj,
    CompressionTypes.BZIP2: bz2.BZ2Decompressor,
    CompressionTypes.LZMA: lzma.LZMADecompressor,
    CompressionTypes.ZSTD: lambda: zstandard.ZstdDecompressor(max_window_size=1 << 31).decompressobj(),
}
# What the decompressors raise for bad data (bz2: OSError "Invalid data stream").
_DECODE_ERRORS = (OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


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


@dataclass(frozen=True)
class Fault:
    """Why a file's data ended early, and how many of its (compressed) bytes had been read."""

    reason: str  # TRUNCATED_INPUT | CORRUPT_INPUT
    detail: str
    bytes_read: int


class SourceFile(io.RawIOBase):
    """The file as Beam's filesystem opened it, counting the bytes read from it.

    Remembers an error of the filesystem itself (a dropped connection), which is
    a ``read_error``, so it is not mistaken for bad data in the file.
    """

    def __init__(self, fh):
        super().__init__()
        self._fh = fh
        self.bytes_read = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._fh.seekable()

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._fh.read(size)
        except Exception as exc:
            self.error = exc
            raise
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


class DecodedStream:
    """The file's bytes, decompressed by suffix like Beam's AUTO, with the end checked.

    Beam's CompressedFile stops quietly where a stream is cut (it never asks the
    decompressor whether its stream ended), and zstandard's ``stream_reader``
    (0.25) does too, even with ``read_across_frames``. So this drives the same
    decompressor objects itself: each reports ``eof`` at the end of its member or
    frame and hands the bytes after it (``unused_data``) to the next one, which is
    how multi-member gzip and multi-frame zstd files read fully. The data ending
    while a decompressor has not reached ``eof`` (an empty compressed file
    included) is a truncation; a decompressor error (bad CRC, bad block, trailing
    garbage) is corruption. ``read`` never raises for either: the data just ends
    and ``fault`` says why. Filesystem errors are raised.
    """

    def __init__(self, source: SourceFile, path: str):
        self.source = source
        self._new = _DECOMPRESSORS.get(CompressionTypes.detect_compression_type(path))
        self._decompressor = self._new() if self._new else None
        self._found: Fault | None = None  # known, not yet reported: data before it is still being returned
        self.fault: Fault | None = None  # set when ``read`` returns the end, so what follows is the fault's

    def read(self, size: int) -> bytes:
        """Some bytes (at most ``size`` uncompressed; any amount decompressed), ``b""`` at the end."""
        if self._decompressor is None:
            return self.source.read(size)
        out = bytearray()
        if self._found is None and self.fault is None:
            try:
                self._decompress_into(out)
            except _DECODE_ERRORS as exc:
                if self.source.error is not None:
                    raise
                name = "zlib.error" if isinstance(exc, zlib.error) else type(exc).__name__
                self._found = Fault(CORRUPT_INPUT, f"{name}: {exc}", self.source.bytes_read)
        if not out and self._found is not None:
            self.fault, self._found = self._found, None
        return bytes(out)

    def _decompress_into(self, out: bytearray) -> None:
        while not out:
            data = self.source.read(_RAW_CHUNK)
            if not data:
                if not self._decompressor.eof:
                    detail = ("empty file" if self.source.bytes_read == 0
                              else "compressed stream ended before its end-of-stream marker")
                    self._found = Fault(TRUNCATED_INPUT, detail, self.source.bytes_read)
                return
            while data:
                if self._decompressor.eof:
                    self._decompressor = self._new()
                out += self._decompressor.decompress(data)
                data = self._decompressor.unused_data if self._decompressor.eof else b""


def input_fault(origin: str, fault: Fault, file_bytes: int | None, records_read: int, raw: bytes | None) -> dict:
    """The one file-level raw record of a truncated or corrupt file."""
    return raw_record(origin, None, _raw=raw, _input_fault={
        "file": origin, "reason": fault.reason, "detail": fault.detail, "bytes_read": fault.bytes_read,
        "file_bytes": file_bytes, "records_read": records_read,
    })


class _ReadFileFn(beam.DoFn):
    def __init__(self, fmt: str, base: str, max_line_bytes: int):
        self._fmt = fmt
        self._base = base
        self._max_line_bytes = max_line_bytes

    def process(self, readable: fileio.ReadableFile):
        origin = relative_origin(readable.metadata.path, self._base)
        read = {JSONL: self._read_jsonl, TEXT: self._read_text, PARQUET: self._read_parquet,
                WARC: self._read_warc}[self._fmt]
        line = 0  # records yielded so far, for the read_error message
        try:
            with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                for record in read(SourceFile(fh), readable.metadata, origin):
                    yield record
                    line += 1
        except Exception as exc:  # noqa: BLE001 - an unreadable file is quarantined, not fatal
            after = f" after line {line}" if line else ""
            yield raw_record(origin, line or None, _read_error=f"{describe_error(exc)}{after}")

    def _read_jsonl(self, source: SourceFile, metadata, origin: str):
        stream = DecodedStream(source, metadata.path)
        records = 0
        for line, data, truncated in iter_lines(stream.read, self._max_line_bytes):
            if stream.fault is not None:  # the line the stream ended inside: part of the fault
                yield input_fault(origin, stream.fault, metadata.size_in_bytes, records, data)
                return
            records = line
            yield raw_record(origin, line, _raw=data, _truncated=truncated)
        if stream.fault is not None:
            yield input_fault(origin, stream.fault, metadata.size_in_bytes, records, None)

    def _read_text(self, source: SourceFile, metadata, origin: str):
        stream = DecodedStream(source, metadata.path)
        data = bytearray()
        while len(data) <= self._max_line_bytes:
            chunk = stream.read(self._max_line_bytes + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if stream.fault is not None:  # the file is the record: a partial one is not kept
            yield input_fault(origin, stream.fault, metadata.size_in_bytes, 0, bytes(data[: self._max_line_bytes]))
            return
        yield raw_record(
            origin, None, _raw=bytes(data[: self._max_line_bytes]),
            _truncated=len(data) > self._max_line_bytes, _whole_file=True,
        )

    def _read_warc(self, source: SourceFile, metadata, origin: str):
        """Record by record (``transforms.io.warc``): documents, drops and broken records as raw records
        numbered from 1; records that are not documents (request, metadata, ...) only counted. A file
        with no record at all, and not a WARC from its first byte, is one ``read_error`` naming it."""
        from apache_beam.metrics import Metrics

        from transforms.io.warc import OVERSIZED, WarcItem, frame_records, parse_record

        stream = DecodedStream(source, metadata.path)
        ordinal = framed = 0
        first_broken = None
        for offset, data, broken in frame_records(stream.read, self._max_line_bytes):
            item = parse_record(offset, data) if broken is None else None
            if broken == OVERSIZED:
                item, broken = WarcItem(offset, drop=OVERSIZED), None
            if broken is None:
                framed += 1
            if item is not None and item.skip:
                Metrics.counter("corpusmill.read", f"warc_skipped:{item.skip}").inc()
                continue
            ordinal += 1
            fields = {"offset": offset, "broken": broken or item.broken, "drop": item and item.drop,
                      "fields": item and item.fields}
            if framed == 0 and offset == 0 and broken:
                first_broken = raw_record(origin, ordinal, _warc=fields)  # held: a non-WARC file is one error
                continue
            if first_broken is not None:
                yield first_broken
                first_broken = None
            yield raw_record(origin, ordinal, _warc=fields)
        if first_broken is not None:
            if stream.fault is None:
                yield raw_record(origin, None, _read_error=f"not a WARC file: {origin} has no WARC/1.x record")
            else:
                yield first_broken
        if stream.fault is not None:
            yield input_fault(origin, stream.fault, metadata.size_in_bytes, ordinal, None)

    def _read_parquet(self, source: SourceFile, metadata, origin: str):
        """Row group by row group; a fault's ``bytes_read`` is where the failing row group
        starts (all before it read fine), or the file size for a fault at open (pyarrow
        reads the footer, at the end, first). Page checksums are verified where the
        writer stored them."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        errors = (pa.ArrowException, OSError, UnicodeDecodeError)
        size = metadata.size_in_bytes
        try:
            parquet = pq.ParquetFile(source, page_checksum_verification=True)
        except errors as exc:
            if source.error is not None:
                raise
            yield input_fault(origin, Fault(_parquet_reason(source, size), describe_error(exc), size), size, 0, None)
            return
        rows = 0
        for group in range(parquet.metadata.num_row_groups):
            try:
                for batch in parquet.iter_batches(batch_size=1024, row_groups=[group]):
                    for row in batch.to_pylist():
                        rows += 1
                        yield raw_record(origin, rows, _record=row)
            except errors as exc:
                if source.error is not None:
                    raise
                start = _row_group_start(parquet.metadata, group)
                yield input_fault(origin, Fault(CORRUPT_INPUT, describe_error(exc), start), size, rows, None)
                return


def _parquet_reason(source: SourceFile, size: int) -> str:
    """pyarrow's error does not say whether a file was cut; its footer ends the file, so a
    file that starts like Parquet but lacks the closing magic (or is empty) was cut."""
    if size == 0:
        return TRUNCATED_INPUT
    source.seek(0)
    head = source.read(len(_PARQUET_MAGIC))
    source.seek(max(size - len(_PARQUET_MAGIC), 0))
    tail = source.read(len(_PARQUET_MAGIC))
    return TRUNCATED_INPUT if head == _PARQUET_MAGIC and tail != _PARQUET_MAGIC else CORRUPT_INPUT


def _row_group_start(metadata, group: int) -> int:
    columns = [metadata.row_group(group).column(i) for i in range(metadata.num_columns)]
    starts = [c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset for c in columns]
    return min(starts, default=0)


def read_file(metadata, fmt: str, base: str, max_line_bytes: int) -> Iterator[dict]:
    """One matched file's raw records, outside a pipeline (eval sets read on the launching machine)."""
    fn = _ReadFileFn(fmt, base, max_line_bytes)
    yield from fn.process(fileio.ReadableFile(metadata))


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
