import json

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.core.outcomes import Dropped, Kept, Quarantined
from transforms.core.text_hash import content_id
from transforms.io.normalize import Normalizer, NormalizeSettings

NORM = Normalizer(NormalizeSettings(max_bytes=1000))


def raw(data: bytes, line: int = 7, **extra) -> dict:
    return {"origin_file": "f.jsonl", "origin_line": line, "_raw": data, **extra}


def test_kept_document_is_nfc_with_content_id_and_meta():
    out = NORM.process(raw(json.dumps({"text": "Cafe\u0301 au lait", "url": "u", "source": "web"}).encode()))
    assert isinstance(out, Kept)
    doc = out.doc
    assert doc["text"] == "Café au lait"
    assert doc["id"] == content_id("Café au lait")
    assert doc["source"] == "web"
    assert json.loads(doc["meta"]) == {"url": "u"}
    assert (doc["origin_file"], doc["origin_line"]) == ("f.jsonl", 7)


def test_source_id_is_kept_as_string():
    out = NORM.process(raw(b'{"id": 12, "text": "x y"}'))
    assert out.doc["id"] == "12"


def test_each_bad_input_gets_its_reason():
    cases = {
        b'{"text": "cut': (Quarantined, "malformed_json"),
        b'{"text": "bad \xff"}': (Quarantined, "undecodable"),
        b'{"text": 3}': (Quarantined, "text_not_string"),
        b'{"other": 1}': (Quarantined, "missing_text_field"),
        b'"just a string"': (Quarantined, "not_an_object"),
        b'{"text": "\\udc00"}': (Quarantined, "invalid_unicode"),
        b'{"text": null}': (Dropped, "empty"),
        b'{"text": " \\t\\n"}': (Dropped, "empty"),
        b"   ": (Dropped, "blank_line"),
        json.dumps({"text": "x" * 1001}).encode(): (Dropped, "oversized"),
    }
    for data, (kind, reason) in cases.items():
        out = NORM.process(raw(data))
        assert isinstance(out, kind), (data, out)
        got = out.reason if isinstance(out, Dropped) else out.error
        assert got.startswith(reason), (data, got)
        assert out.doc["origin_line"] == 7 and out.doc["_raw"] == data


def test_truncated_line_and_read_error():
    assert NORM.process(raw(b"x" * 10, _truncated=True)).reason == "oversized"
    out = NORM.process({"origin_file": "f", "origin_line": 3, "_read_error": "OSError: boom after line 3"})
    assert isinstance(out, Quarantined) and "boom" in out.error


def test_whole_file_text_and_parquet_records():
    text_out = NORM.process(raw("Plain file body\n".encode(), _whole_file=True))
    assert isinstance(text_out, Kept) and text_out.doc["text"] == "Plain file body\n"
    row_out = NORM.process({"origin_file": "p.parquet", "origin_line": 2, "_record": {"text": "row", "lang": "en"}})
    assert isinstance(row_out, Kept) and json.loads(row_out.doc["meta"]) == {"lang": "en"}


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_fuzz_any_bytes_get_exactly_one_outcome(data):
    out = NORM.process(raw(data))
    assert isinstance(out, (Kept, Dropped, Quarantined))
    if isinstance(out, Kept):
        out.doc["text"].encode("utf-8")
        assert out.doc["text"].strip()


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=8))
def test_fuzz_any_json_value_gets_exactly_one_outcome(value):
    data = json.dumps({"text": value, "id": value}).encode()
    out = NORM.process(raw(data))
    assert isinstance(out, (Kept, Dropped, Quarantined))


def test_input_fault_is_one_quarantined_row_with_its_numbers_and_a_console_line():
    from schemas import rejected_to_row
    from transforms.core.ledger import reason_of
    from transforms.core.outcomes import mark_rejected
    from transforms.io.normalize import input_fault_warnings

    cut = {"file": "a.jsonl.gz", "reason": "truncated_input", "bytes_read": 1234, "file_bytes": 1234,
           "records_read": 56, "detail": "compressed stream ended before its end-of-stream marker"}
    bad = {"file": "b.jsonl.zst", "reason": "corrupt_input", "bytes_read": 800, "file_bytes": 5000,
           "records_read": 3, "detail": "ZstdError: zstd decompressor error: Data corruption detected"}
    out = NORM.process({"origin_file": "a.jsonl.gz", "origin_line": None, "_raw": b'{"text": "to', "_input_fault": cut})
    assert isinstance(out, Quarantined)
    assert out.error == ("truncated_input: truncated after 1,234 of ? bytes (56 records read): "
                         "compressed stream ended before its end-of-stream marker")
    marked = mark_rejected(out, "normalize")
    assert reason_of(marked) == "truncated_input"  # the ledger's key
    row = rejected_to_row(marked)
    assert row["raw"] == b'{"text": "to' and json.loads(row["meta"]) == cut and row["origin_line"] is None
    assert NORM.process({"origin_file": "b.jsonl.zst", "origin_line": None, "_raw": None,
                         "_input_fault": bad}).error.startswith("corrupt_input: corrupt after 800 of 5,000 bytes")
    assert input_fault_warnings({"normalize": {"input_faults": [cut, bad]}}) == [
        "[corpusmill] warning: input a.jsonl.gz truncated after 1,234 of ? bytes (56 records read)",
        ("[corpusmill] warning: input b.jsonl.zst corrupt after 800 of 5,000 bytes (3 records read): "
         "ZstdError: zstd decompressor error: Data corruption detected"),
    ]
    assert input_fault_warnings({"normalize": {}}) == input_fault_warnings({}) == []
