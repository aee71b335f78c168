"""Pipeline documents as JSON text, losslessly: what parks a document on disk mid-run.

A parked document must come back exactly as the next step would have seen it in
memory, including pipeline-internal keys (``_reject``, ``_rank``, ``_raw``
bytes) and values the final schema reshapes (``signals`` as a dict). So the
whole document is one JSON string (bytes tagged and base64-coded; JSON floats
round-trip exactly). Used by ``--resume`` stage outputs, dedup spills and the
sink's sorted runs.
"""
from __future__ import annotations

import base64
import json

import pyarrow as pa

# A parked document as a Parquet row: its id (for inspection) and the whole document as JSON.
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


def encode_document(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, default=_encode)


def decode_document(text: str) -> dict:
    return json.loads(text, object_hook=_decode)


def to_staged_row(doc: dict) -> dict:
    return {"id": doc.get("id"), "doc": encode_document(doc)}


def from_staged_row(row: dict) -> dict:
    return decode_document(row["doc"])
