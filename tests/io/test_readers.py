import bz2
import gzip
import io
import json
import lzma
import os
import struct
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.corpora import SAMPLE_DIR
from transforms.core.outcomes import Dropped, Kept, Quarantined
from transforms.io.normalize import Normalizer, NormalizeSettings
from transforms.io.readers import (
    CORRUPT_INPUT,
    JSONL,
    PARQUET,
    TEXT,
    TRUNCATED_INPUT,
    DecodedStream,
    SourceFile,
    _ReadFileFn,
    iter_lines,
    pattern_base,
    relative_origin,
)


def lines_of(data: bytes, limit: int = 1 << 20):
    return list(iter_lines(io.BytesIO(data).read, limit))


def test_lines_are_numbered_from_one_and_strip_crlf():
    assert lines_of(b"a\r\nb\nc") == [(1, b"a", False), (2, b"b", False), (3, b"c", False)]


def test_trailing_newline_adds_no_empty_line():
    assert lines_of(b"a\nb\n") == [(1, b"a", False), (2, b"b", False)]


def test_blank_lines_keep_their_numbers():
    assert [n for n, _, _ in lines_of(b"a\n\nb\n")] == [1, 2, 3]


def test_huge_line_is_truncated_and_flagged_without_losing_the_next_line():
    data = b"x" * 5000 + b"\nnext\n"
    out = lines_of(data, limit=100)
    assert out[0] == (1, b"x" * 100, True)
    assert out[1] == (2, b"next", False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=64))
def test_every_line_is_yielded_in_order(data, limit):
    out = list(iter_lines(io.BytesIO(data).read, limit))
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [n for n, _, _ in out] == list(range(1, len(expected) + 1))
    for (_, line, truncated), raw in zip(out, expected):
        assert truncated == (len(raw) > limit)
        assert line == raw[:limit].rstrip(b"\r")


def test_pattern_base_and_origin_names():
    assert pattern_base("/data/sample/*.jsonl.zst") == "/data/sample/"
    assert pattern_base("gs://b/x/part-*.jsonl") == "gs://b/x/"
    assert pattern_base("/data/one.jsonl") == "/data/"
    assert relative_origin("/data/sample/a.jsonl", "/data/sample/") == "a.jsonl"


# --- truncated and corrupt input -------------------------------------------------------------

# Real text, long enough for several zstd blocks (128 KiB each) and many gzip chunks: Shakespeare scenes.
_SCENES = zstandard.ZstdDecompressor().decompressobj().decompress((SAMPLE_DIR / "shakespeare.jsonl.zst").read_bytes())
LINES = _SCENES.split(b"\n")[:60]
PAYLOAD = b"".join(line + b"\n" for line in LINES)
COMPRESS = {
    "gz": lambda data: gzip.compress(data, mtime=0),
    "zst": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "deflate": zlib.compress,
}
# What a decompressor can still produce from (cut) bytes, by the same libraries' one-shot objects.
AVAILABLE = {
    "gz": lambda data: zlib.decompressobj(31).decompress(data),
    "zst": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
}


def read_file(path, fmt=JSONL, max_line=1 << 20) -> list[dict]:
    """The real reader DoFn on one file, through Beam's filesystem."""
    readable = fileio.ReadableFile(FileMetadata(str(path), os.path.getsize(path)))
    return list(_ReadFileFn(fmt, str(path.parent) + "/", max_line).process(readable))


def split_fault(records: list[dict]) -> tuple[list[dict], dict | None]:
    faults = [r for r in records if "_input_fault" in r]
    assert len(faults) <= 1 and all(r is records[-1] for r in faults), "one fault record, last"
    return (records[:-1], faults[0]) if faults else (records, None)


def flip_bit(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:]


CUTS = {
    "mid_header": (lambda c: c[:5], TRUNCATED_INPUT),
    "mid_block": (lambda c: c[: len(c) // 2], TRUNCATED_INPUT),
    "before_trailer": (lambda c: c[:-4], TRUNCATED_INPUT),
    "empty": (lambda c: b"", TRUNCATED_INPUT),
    "trailing_garbage": (lambda c: c + b"not compressed\n", CORRUPT_INPUT),
    "bit_flip": (lambda c: flip_bit(c, len(c) // 2), CORRUPT_INPUT),
}


@pytest.mark.parametrize("kind", ["gz", "zst"])
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_each_cut_is_one_fault_record_after_the_records_before_it(tmp_path, kind, cut):
    make, reason = CUTS[cut]
    path = tmp_path / f"a.jsonl.{kind}"
    path.write_bytes(make(COMPRESS[kind](PAYLOAD)))
    records, fault = split_fault(read_file(path))
    assert fault is not None and fault["_input_fault"]["reason"] == reason
    info = fault["_input_fault"]
    assert info["file"] == f"a.jsonl.{kind}" and info["file_bytes"] == path.stat().st_size
    assert info["records_read"] == len(records)
    assert [r["origin_line"] for r in records] == list(range(1, len(records) + 1))
    if reason == TRUNCATED_INPUT:
        assert info["bytes_read"] == path.stat().st_size  # the stream ended where the file does
        # every complete line that can be decoded is a record; the torn rest is the fault's raw bytes
        *complete, torn = AVAILABLE[kind](path.read_bytes()).split(b"\n")
        assert [r["_raw"] for r in records] == complete
        assert fault["_raw"] == (torn or None)
    if cut == "before_trailer":
        assert [r["_raw"] for r in records] == LINES
    if cut == "mid_block":
        assert 0 < len(records) < len(LINES)
    if cut == "trailing_garbage":  # the whole stream before the garbage was good
        assert [r["_raw"] for r in records] == LINES


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_whole_files_read_fully_and_cut_ones_are_caught(tmp_path, kind):
    path = tmp_path / f"b.jsonl.{kind}"
    data = COMPRESS[kind](PAYLOAD)
    path.write_bytes(data)
    records, fault = split_fault(read_file(path))
    assert fault is None and [r["_raw"] for r in records] == LINES
    path.write_bytes(data[: len(data) * 2 // 3])
    records, fault = split_fault(read_file(path))
    assert fault["_input_fault"]["reason"] == TRUNCATED_INPUT
    assert fault["_input_fault"]["records_read"] == len(records) < len(LINES)


def test_multi_member_gzip_and_multi_frame_zstd_read_fully(tmp_path):
    half = len(LINES) // 2
    first, second = b"".join(line + b"\n" for line in LINES[:half]), b"".join(line + b"\n" for line in LINES[half:])
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"skip"
    for name, data in {
        "m.jsonl.gz": gzip.compress(first) + gzip.compress(second),
        "m.jsonl.zst": COMPRESS["zst"](first) + skippable + COMPRESS["zst"](second),
    }.items():
        (tmp_path / name).write_bytes(data)
        records, fault = split_fault(read_file(tmp_path / name))
        assert fault is None and [r["_raw"] for r in records] == LINES, name
        (tmp_path / name).write_bytes(data[:-10])  # cut inside the second member / frame
        records, fault = split_fault(read_file(tmp_path / name))
        assert fault["_input_fault"]["reason"] == TRUNCATED_INPUT and len(records) >= half, name


def test_a_cut_compressed_text_file_is_not_kept_as_a_document(tmp_path):
    path = tmp_path / "doc.txt.gz"
    path.write_bytes(gzip.compress(PAYLOAD)[:-100])
    [fault] = read_file(path, TEXT)
    assert fault["_input_fault"]["reason"] == TRUNCATED_INPUT and fault["_input_fault"]["records_read"] == 0
    assert PAYLOAD.startswith(fault["_raw"]) and len(fault["_raw"]) > 1000
    path.write_bytes(gzip.compress(PAYLOAD))
    [whole] = read_file(path, TEXT, max_line=len(PAYLOAD))
    assert whole["_raw"] == PAYLOAD and whole["_whole_file"]


def test_plain_files_have_no_stream_check_and_keep_their_last_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(PAYLOAD[:-7])
    records, fault = split_fault(read_file(path))
    assert fault is None and len(records) == len(LINES) and records[-1]["_raw"] == LINES[-1][:-6]


def test_a_filesystem_error_is_raised_not_taken_for_bad_data():
    with open("/proc/self/mem", "rb") as fh:  # reading offset 0 of it fails with EIO
        stream = DecodedStream(SourceFile(fh), "x.jsonl.gz")
        with pytest.raises(OSError):
            stream.read(1 << 20)
        assert stream.fault is None


def parquet_file(path, rows=300, group=50) -> list[dict]:
    texts = [f"row {i}: " + json.loads(LINES[i % len(LINES)])["text"][:2000] for i in range(rows)]
    table = pa.table({"text": texts, "n": list(range(rows))})
    pq.write_table(table, path, row_group_size=group, compression="zstd", write_page_checksum=True)
    return table.to_pylist()


def test_truncated_parquet_is_one_fault_record(tmp_path):
    path = tmp_path / "t.parquet"
    parquet_file(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    [fault] = read_file(path, PARQUET)
    info = fault["_input_fault"]
    assert info["reason"] == TRUNCATED_INPUT and info["records_read"] == 0
    assert info["bytes_read"] == info["file_bytes"] == path.stat().st_size


def test_parquet_with_a_bad_footer_is_corrupt(tmp_path):
    path = tmp_path / "f.parquet"
    parquet_file(path)
    data = path.read_bytes()
    path.write_bytes(data[:-8] + b"\xff\xff\xff\x7f" + data[-4:])  # footer length points outside the file
    [fault] = read_file(path, PARQUET)
    assert fault["_input_fault"]["reason"] == CORRUPT_INPUT and "ArrowInvalid" in fault["_input_fault"]["detail"]


def test_corrupt_parquet_page_keeps_the_row_groups_before_it(tmp_path):
    path = tmp_path / "c.parquet"
    rows = parquet_file(path)
    column = pq.ParquetFile(path).metadata.row_group(2).column(0)
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    path.write_bytes(flip_bit(path.read_bytes(), start + column.total_compressed_size // 2))
    records, fault = split_fault(read_file(path, PARQUET))
    assert [r["_record"] for r in records] == rows[:100]  # row groups 0 and 1
    info = fault["_input_fault"]
    assert info["reason"] == CORRUPT_INPUT and info["records_read"] == 100 and info["bytes_read"] == start


# Every bundled compressed sample is one gzip member / zstd frame, so every strict prefix is a cut.
_SAMPLES = {p.name: p for p in sorted(SAMPLE_DIR.glob("*.jsonl.zst")) + sorted(SAMPLE_DIR.glob("*.jsonl.gz"))}
_NORMALIZER = Normalizer(NormalizeSettings())


def _outcome(outcome) -> tuple:
    return type(outcome).__name__, getattr(outcome, "reason", None) or getattr(outcome, "error", None) or outcome.doc["id"]


@pytest.fixture(scope="module")
def whole_sample_outcomes() -> dict[str, list[tuple]]:
    outcomes = {}
    for name, path in _SAMPLES.items():
        records, fault = split_fault(read_file(path))
        assert fault is None, name
        outcomes[name] = [_outcome(_NORMALIZER.process(r)) for r in records]
    return outcomes


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(_SAMPLES)).flatmap(
    lambda name: st.tuples(st.just(name), st.integers(0, _SAMPLES[name].stat().st_size - 1))))
def test_sample_files_cut_anywhere_give_one_truncation_and_balance(tmp_path_factory, whole_sample_outcomes, cut):
    name, offset = cut
    path = tmp_path_factory.mktemp("cut") / name
    path.write_bytes(_SAMPLES[name].read_bytes()[:offset])
    records = read_file(path)
    body, fault = split_fault(records)
    assert fault is not None
    assert fault["_input_fault"]["reason"] == TRUNCATED_INPUT and fault["_input_fault"]["bytes_read"] == offset
    outcomes = [_NORMALIZER.process(r) for r in records]
    # the ledger of this file: one outcome per record read, the fault being one record
    assert len(outcomes) == len(records) == fault["_input_fault"]["records_read"] + 1
    assert sum(isinstance(o, (Kept, Dropped, Quarantined)) for o in outcomes) == len(records)
    assert _outcome(outcomes[-1])[1].startswith("truncated_input: truncated after")
    # the records before the cut decide exactly as in the whole file: no torn line shows up as malformed_json
    assert [_outcome(o) for o in outcomes[:-1]] == whole_sample_outcomes[name][: len(body)]
