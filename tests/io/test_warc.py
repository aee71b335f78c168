"""input.format: warc — WARC/WET records through the real reader DoFn and normalizer, and in a run.

The files are written with warcio's writer (another library than the FastWARC
parser the reader uses), from the bundled sample's own text wrapped in HTML.
"""
import gzip
import io
import json
import os

import pyarrow.parquet as pq
import pytest
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.support.corpora import run_config
from transforms.core.outcomes import Dropped, Kept, Quarantined
from transforms.io.normalize import Normalizer, NormalizeSettings
from transforms.io.readers import TRUNCATED_INPUT, WARC, _ReadFileFn
from transforms.io.warc import decode_payload

PAGES = [f"<html><head><title>Page {i}</title></head><body><p>Paragraph {i} of a page about "
         f"{'birds rivers stones clocks lamps'.split()[i % 5]}.</p></body></html>" for i in range(6)]


def response(writer, url, body: bytes, status="200 OK", content_type="text/html; charset=utf-8"):
    http = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
    return writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)


def write_warc(path, records, gz=True) -> list[int]:
    """Write (kind, url, body, status, content_type) tuples; returns each record's byte offset."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    offsets = []
    for kind, url, body, status, ctype in records:
        offsets.append(buf.tell())
        if kind == "response":
            writer.write_record(response(writer, url, body, status, ctype))
        elif kind == "conversion":
            writer.write_record(writer.create_warc_record(url, "conversion", payload=io.BytesIO(body),
                                                          warc_content_type="text/plain"))
        else:
            writer.write_record(writer.create_warc_record(url, kind, payload=io.BytesIO(body)))
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return offsets


def outcomes(path) -> list:
    readable = fileio.ReadableFile(FileMetadata(str(path), os.path.getsize(path)))
    raws = list(_ReadFileFn(WARC, str(path.parent) + "/", 1 << 20).process(readable))
    normalize = Normalizer(NormalizeSettings())
    return [normalize.process(r) for r in raws]


def test_html_responses_become_documents_and_other_records_are_dropped_with_reasons(tmp_path):
    french = ("Un café à Paris, déjà vu. Le garçon apporte l'addition; nous préférons rester à l'intérieur "
              "près de la fenêtre, où la lumière d'été entre doucement. ") * 3
    latin1 = f"<html><body><p>{french}</p></body></html>".encode("cp1252")
    records = [("response", f"https://example.org/{i}", p.encode(), "200 OK", "text/html; charset=utf-8")
               for i, p in enumerate(PAGES[:3])]
    records += [
        ("request", "https://example.org/0", b"GET /0 HTTP/1.1\r\n\r\n", None, None),   # not a document
        ("response", "https://example.org/gone", PAGES[3].encode(), "404 Not Found", "text/html"),
        ("response", "https://example.org/logo.png", b"\x89PNG....", "200 OK", "image/png"),
        ("response", "https://example.org/cafe", latin1, "200 OK", "text/html"),  # no charset declared
        ("metadata", "https://example.org/0", b"fetchTimeMs: 12\r\n", None, None),
    ]
    path = tmp_path / "crawl.warc.gz"
    offsets = write_warc(path, records)
    got = outcomes(path)
    kept = [o.doc for o in got if isinstance(o, Kept)]
    assert [json.loads(d["meta"])["url"] for d in kept] == [
        "https://example.org/0", "https://example.org/1", "https://example.org/2", "https://example.org/cafe"]
    for doc, offset in zip(kept, offsets[:3]):
        meta = json.loads(doc["meta"])
        assert doc["id"] == meta["warc_record_id"] and doc["id"].startswith("<urn:uuid:")
        assert meta["content_type"] == "text/html; charset=utf-8" and meta["warc_date"]
        assert meta["warc_offset"] == offset and doc["text"].startswith("<html>")  # raw HTML until extract_text
    assert french in kept[3]["text"]  # undeclared cp1252, decoded by detection
    dropped = sorted((o.reason, json.loads(o.doc["meta"])["url"]) for o in got if isinstance(o, Dropped))
    assert dropped == [("warc_not_html", "https://example.org/logo.png"), ("warc_status:404", "https://example.org/gone")]
    for o in got:
        if isinstance(o, Dropped):  # a dropped record names itself in the ledger, as a document would
            assert o.doc["id"] == json.loads(o.doc["meta"])["warc_record_id"] and o.doc["id"].startswith("<urn:uuid:")
    assert not any(isinstance(o, Quarantined) for o in got)
    assert len(got) == 6  # the request and metadata records are counted by the reader, not documents


def test_a_broken_record_is_quarantined_with_its_offset_and_its_neighbours_are_read(tmp_path):
    records = [("response", f"https://example.org/{i}", p.encode(), "200 OK", "text/html") for i, p in enumerate(PAGES)]
    plain = tmp_path / "plain.warc"
    offsets = write_warc(plain, records, gz=False)
    data = bytearray(plain.read_bytes())
    data[offsets[2]:offsets[2] + 8] = b"GARBAGE!"  # record 2's version line
    at = data.index(b"Content-Length: ", offsets[4])  # record 4's length: far too long
    end = data.index(b"\r\n", at)
    data[at:end] = b"Content-Length: 99999"
    for name, payload in (("broken.warc", bytes(data)), ("broken.warc.gz", gzip.compress(bytes(data), mtime=0))):
        (tmp_path / name).write_bytes(payload)
        got = outcomes(tmp_path / name)
        kept = [json.loads(o.doc["meta"])["url"] for o in got if isinstance(o, Kept)]
        assert kept == ["https://example.org/0", "https://example.org/1", "https://example.org/3",
                        "https://example.org/5"], name
        broken = [o.error for o in got if isinstance(o, Quarantined)]
        assert len(broken) == 2 and all(r.startswith("corrupt_record: ") for r in broken)
        assert f"offset {offsets[2]}" in broken[0] and f"offset {offsets[4]}" in broken[1]


def test_wet_conversion_records_are_documents(tmp_path):
    path = tmp_path / "crawl.warc.wet.gz"
    write_warc(path, [("warcinfo", None, b"software: test\r\n", None, None),
                      ("conversion", "https://example.org/a", b"Plain text of page a.", None, None),
                      ("conversion", "https://example.org/b", b"Plain text of page b.", None, None)])
    got = outcomes(path)
    assert [o.doc["text"] for o in got] == ["Plain text of page a.", "Plain text of page b."]


def test_a_file_that_is_not_a_warc_is_one_error_naming_it(tmp_path):
    (tmp_path / "notes.warc").write_text("just some notes\nnot a crawl\n")
    [only] = outcomes(tmp_path / "notes.warc")
    assert isinstance(only, Quarantined)
    assert only.error == "read_error: not a WARC file: notes.warc has no WARC/1.x record"


def test_a_cut_warc_gz_keeps_the_records_before_the_cut(tmp_path):
    path = tmp_path / "cut.warc.gz"
    write_warc(path, [("response", f"https://example.org/{i}", p.encode(), "200 OK", "text/html")
                      for i, p in enumerate(PAGES)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    got = outcomes(path)
    assert sum(isinstance(o, Kept) for o in got) >= 2
    assert got[-1].error.startswith(TRUNCATED_INPUT)


@pytest.mark.parametrize("declared,expected", [("utf-8", "naïve"), ("iso-8859-1", "naÃ¯ve"), ("bogus", "naïve"),
                                               (None, "naïve")])
def test_payloads_decode_by_declared_charset_else_detection(declared, expected):
    assert decode_payload("naïve".encode(), declared) == expected
    # a page's own <meta charset> when the HTTP header says nothing
    page = '<html><head><meta charset="windows-1252"></head><body>naïve</body></html>'
    assert "naïve" in decode_payload(page.encode("cp1252"), None)


def test_a_warc_input_runs_end_to_end_with_a_balanced_ledger(tmp_path):
    records = [("response", f"https://example.org/{i}", p.encode(), "200 OK", "text/html") for i, p in enumerate(PAGES)]
    records.append(("response", "https://example.org/0", PAGES[0].encode(), "500 Server Error", "text/html"))
    write_warc(tmp_path / "a.warc.gz", records)
    manifest = run_config({"input": {"paths": [str(tmp_path / "*.warc.gz")], "format": "warc"},
                           "output": {"dir": str(tmp_path / "out")}, "stages": [{"exact_dedup": {}}]}, tmp_path)
    normalize = manifest["ledger"][0]
    assert (normalize["in"], normalize["kept"], normalize["dropped"]) == (7, 6, 1)
    assert normalize["reasons"] == {"warc_status:500": 1}
    rows = pq.read_table(tmp_path / "out" / "data").to_pylist()
    assert sorted(json.loads(r["meta"])["url"] for r in rows) == [f"https://example.org/{i}" for i in range(6)]
    rejected = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    assert [(r["reject_reason"], json.loads(r["meta"])["url"]) for r in rejected] == [
        ("warc_status:500", "https://example.org/0")]
    assert rejected[0]["id"] not in {r["id"] for r in rows}  # its own record id, not the 200's
