"""The ``normalize`` stage: raw records become Documents, or are rejected with a reason.

Always the first stage. Decides, per raw record from ``transforms.io.readers``:
unreadable file / undecodable bytes / malformed JSON / wrong types → quarantine
(with file and line); empty → drop ``empty``; too large → drop ``oversized``.
Kept text is Unicode-normalized (NFC) and gets a content-hash id if the source
gave none.

A truncated or corrupt input file arrives as one file-level raw record
(``_input_fault``) and is quarantined as ``truncated_input`` / ``corrupt_input``;
``transforms.io.normalize_stage`` also reports these files as the statistic ``input_faults``,
which the manifest, the report and the console (``input_fault_warnings``) show.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome, Quarantined
from transforms.core.text_hash import content_id
from transforms.io.readers import TRUNCATED_INPUT

STAGE = "normalize"
INPUT_FAULTS = "input_faults"


@dataclass(frozen=True)
class NormalizeSettings:
    text_field: str = "text"
    id_field: str | None = "id"
    source_field: str | None = "source"
    default_source: str | None = None
    max_bytes: int = 1_000_000
    unicode_form: str = "NFC"


def _check_encodable(value: str, what: str) -> None:
    # json.loads accepts lone surrogate escapes ("\ud800") that Arrow cannot store.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode ({exc.reason} at {exc.start})") from None


class Normalizer(DocProcessor):
    def __init__(self, settings: NormalizeSettings):
        self.s = settings

    def process(self, raw: dict) -> Outcome:
        if "_doc" in raw:
            return self._generated(raw["_doc"])
        origin = {"origin_file": raw.get("origin_file"), "origin_line": raw.get("origin_line")}
        data = raw.get("_raw")
        rejected = {**origin, "_raw": data}
        if "_read_error" in raw:
            return Quarantined(rejected, f"read_error: {raw['_read_error']}")
        if "_input_fault" in raw:
            return _input_fault(raw["_input_fault"], rejected)
        if raw.get("_truncated"):
            return Dropped(rejected, "oversized")
        if "_warc" in raw:
            return self._warc_record(raw["_warc"], origin, rejected)
        if "_record" in raw:
            record = raw["_record"]
            rejected["_raw"] = json.dumps(record, default=str, ensure_ascii=False).encode(
                "utf-8", "replace"
            )
        else:
            try:
                decoded = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                return Quarantined(
                    rejected, f"undecodable: invalid UTF-8 at byte {exc.start} ({exc.reason})"
                )
            if raw.get("_whole_file"):
                record = {self.s.text_field: decoded}
            else:
                if not decoded.strip():
                    return Dropped(rejected, "blank_line")
                try:
                    record = json.loads(decoded)
                except json.JSONDecodeError as exc:
                    return Quarantined(rejected, f"malformed_json: {exc}")
        if not isinstance(record, dict):
            return Quarantined(rejected, f"not_an_object: got {type(record).__name__}")
        return self._to_document(record, origin, rejected)

    def _warc_record(self, item: dict, origin: dict, rejected: dict) -> Outcome:
        """A WARC/WET record (``transforms.io.warc``): its id is the WARC-Record-ID; url, record id,
        date, content type and byte offset go to ``meta``, for a dropped record (a 404, an image) too."""
        fields = dict(item["fields"] or {})
        headers = {k: v for k, v in fields.items() if k != "text" and v is not None}
        rejected["_raw"] = json.dumps({"offset": item["offset"], **headers}, ensure_ascii=False).encode("utf-8", "replace")
        if headers.get("warc_record_id"):
            rejected["id"] = headers["warc_record_id"]
            rejected["meta"] = json.dumps({**headers, "warc_offset": item["offset"]}, sort_keys=True, ensure_ascii=False)
        if item["broken"]:
            return Quarantined(rejected, f"corrupt_record: {item['broken']}")
        if item["drop"]:
            return Dropped(rejected, item["drop"])
        record = {self.s.text_field: fields.pop("text"), (self.s.id_field or "id"): fields.get("warc_record_id"),
                  **fields, "warc_offset": item["offset"]}
        return self._to_document(record, origin, rejected)

    def _to_document(self, record: dict, origin: dict, rejected: dict) -> Outcome:
        s = self.s
        if s.text_field not in record:
            return Quarantined(rejected, f"missing_text_field: no {s.text_field!r} key")
        text = record[s.text_field]
        if text is None:
            return Dropped(rejected, "empty")
        if not isinstance(text, str):
            return Quarantined(
                rejected, f"text_not_string: {s.text_field!r} is {type(text).__name__}"
            )
        try:
            _check_encodable(text, "text")
            text = unicodedata.normalize(s.unicode_form, text)
            if not text.strip():
                return Dropped(rejected, "empty")
            if len(text.encode("utf-8")) > s.max_bytes:
                return Dropped(rejected, "oversized")
            doc_id = record.get(s.id_field) if s.id_field else None
            doc_id = content_id(text) if doc_id is None or doc_id == "" else str(doc_id)
            _check_encodable(doc_id, "id")
            source = record.get(s.source_field) if s.source_field else None
            source = str(source) if source is not None else s.default_source
            skip = {s.text_field, s.id_field, s.source_field}
            extra = {k: v for k, v in record.items() if k not in skip}
            meta = json.dumps(extra, sort_keys=True, ensure_ascii=False, default=str) if extra else None
            if meta is not None:
                _check_encodable(meta, "metadata")
        except ValueError as exc:
            return Quarantined(rejected, f"invalid_unicode: {exc}")
        return Kept({"id": doc_id, "text": text, "source": source, **origin, "meta": meta})

    def _generated(self, doc: dict) -> Outcome:
        """A document made by a pipeline source: the same text rules, its other columns kept."""
        doc = dict(doc)
        text = doc.get("text")
        if text is None:
            return Dropped(doc, "empty")
        if not isinstance(text, str):
            return Quarantined(doc, f"text_not_string: text is {type(text).__name__}")
        try:
            _check_encodable(text, "text")
        except ValueError as exc:
            return Quarantined(doc, f"invalid_unicode: {exc}")
        text = unicodedata.normalize(self.s.unicode_form, text)
        if not text.strip():
            return Dropped(doc, "empty")
        if len(text.encode("utf-8")) > self.s.max_bytes:
            return Dropped(doc, "oversized")
        doc["text"] = text
        if not doc.get("id"):
            doc["id"] = content_id(text)
        return Kept(doc)


def describe_fault(fault: dict, detail: bool = False) -> str:
    """``truncated after 1,234 of ? bytes (56 records read)`` (a cut file's intended size is unknown);
    the decoder's message follows for corruption, or when ``detail``."""
    records = f"({fault['records_read']:,} records read)"
    if fault["reason"] == TRUNCATED_INPUT:
        text = f"truncated after {fault['bytes_read']:,} of ? bytes {records}"
    else:
        total = "?" if fault["file_bytes"] is None else f"{fault['file_bytes']:,}"
        text = f"corrupt after {fault['bytes_read']:,} of {total} bytes {records}"
    return f"{text}: {fault['detail']}" if detail or fault["reason"] != TRUNCATED_INPUT else text


def _input_fault(fault: dict, rejected: dict) -> Quarantined:
    """The file-level record of a cut or corrupt file; its numbers also go to ``meta`` (queryable in
    the rejected rows) and ``_input_fault`` (for the ``input_faults`` statistic)."""
    row = {**rejected, "meta": json.dumps(fault, sort_keys=True), "_input_fault": fault}
    return Quarantined(row, f"{fault['reason']}: {describe_fault(fault, detail=True)}")


def fault_stat(faults: list[dict]) -> list:
    return [(INPUT_FAULTS, sorted(faults, key=lambda f: (f["file"], f["reason"])))] if faults else []


def input_fault_warnings(stage_stats: dict) -> list[str]:
    """One console line per cut or corrupt input file, from the manifest's ``stage_stats``."""
    faults = stage_stats.get(STAGE, {}).get(INPUT_FAULTS, [])
    return [f"[corpusmill] warning: input {f['file']} {describe_fault(f)}" for f in faults]
