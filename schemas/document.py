"""Document schema v1 and the rejected-row schema.

One Document record flows through every stage. In the pipeline it is a plain
dict whose keys are the column names below; stages add values for columns that
exist here and never invent new top-level keys. Keys starting with ``_`` are
pipeline-internal (e.g. ``_reject``, ``_rank``) and never reach a shard. Any
other unknown key is folded into ``meta`` (JSON) so nothing is lost.
"""
from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = "1.1"  # 1.1: cluster_id

_NAMED_VALUE = pa.struct([("name", pa.string()), ("value", pa.float64())])
# Arrow map<> would be natural for signals, but HF `datasets` has no dtype for
# it; a list of (name, value) structs loads everywhere and queries in DuckDB.
PROVENANCE_ENTRY = pa.struct(
    [("stage", pa.string()), ("action", pa.string()), ("detail", pa.string())]
)

DOCUMENT_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source", pa.string()),
    pa.field("origin_file", pa.string()),
    pa.field("origin_line", pa.int64()),
    pa.field("lang", pa.string()),
    pa.field("lang_score", pa.float64()),
    pa.field("quality_score", pa.float64()),
    pa.field("perplexity", pa.float64()),
    pa.field("signals", pa.list_(_NAMED_VALUE)),
    pa.field("dup_cluster", pa.string()),
    pa.field("dup_cluster_size", pa.int64()),
    pa.field("cluster_id", pa.int64()),  # k-means cluster (cluster_select)
    pa.field("context_id", pa.int64()),
    pa.field("position", pa.int64()),
    pa.field("synthetic", pa.bool_()),
    pa.field("source_id", pa.string()),
    pa.field("src_lang", pa.string()),
    pa.field("tgt_lang", pa.string()),
    pa.field("mt_model", pa.string()),
    pa.field("instruction_words", pa.list_(pa.string())),
    pa.field("instruction_features", pa.list_(pa.string())),
    pa.field("judge_scores", pa.list_(_NAMED_VALUE)),
    pa.field("provenance", pa.list_(PROVENANCE_ENTRY)),
    pa.field("meta", pa.string()),
]

REJECT_FIELDS = [
    pa.field("reject_stage", pa.string(), nullable=False),
    pa.field("reject_outcome", pa.string(), nullable=False),  # dropped | quarantined
    pa.field("reject_reason", pa.string()),
    pa.field("reject_error", pa.string()),
    pa.field("kept_id", pa.string()),
    pa.field("raw", pa.binary()),
]

_SCHEMA_METADATA = {b"corpusmill.schema_version": SCHEMA_VERSION.encode()}

DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS, metadata=_SCHEMA_METADATA)
# Quarantined records may lack an id or text (e.g. a line that is not JSON).
REJECTED_SCHEMA = pa.schema(
    [f.with_nullable(True) for f in DOCUMENT_FIELDS] + REJECT_FIELDS,
    metadata=_SCHEMA_METADATA,
)

DOCUMENT_COLUMNS = frozenset(f.name for f in DOCUMENT_FIELDS)
_NAMED_VALUE_COLUMNS = ("signals", "judge_scores")
_RAW_LIMIT = 64 * 1024


def _named_values(value: Any) -> Any:
    """Accept {name: value} dicts for signal-like columns; store sorted pairs."""
    if isinstance(value, dict):
        return [{"name": k, "value": float(v)} for k, v in sorted(value.items())]
    return value


def document_to_row(doc: dict) -> dict:
    """Project a pipeline dict onto DOCUMENT_SCHEMA columns.

    Unknown public keys are merged into ``meta`` rather than dropped.
    """
    row: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in doc.items():
        if key.startswith("_"):
            continue
        if key in DOCUMENT_COLUMNS:
            row[key] = value
        else:
            extra[key] = value
    for key in _NAMED_VALUE_COLUMNS:
        if key in row:
            row[key] = _named_values(row[key])
    if extra:
        meta = json.loads(row["meta"]) if row.get("meta") else {}
        meta.update(extra)
        row["meta"] = json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)
    return row


def rejected_to_row(doc: dict) -> dict:
    """A dropped/quarantined pipeline dict (carrying ``_reject``) as a rejected row."""
    row = document_to_row(doc)
    reject = doc.get("_reject") or {}
    row["reject_stage"] = reject.get("stage") or "unknown"
    row["reject_outcome"] = reject.get("outcome") or "quarantined"
    row["reject_reason"] = reject.get("reason")
    row["reject_error"] = reject.get("error")
    row["kept_id"] = reject.get("kept_id")
    raw = doc.get("_raw")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    row["raw"] = raw[:_RAW_LIMIT] if raw is not None else None
    return row
