"""Evaluation sets read on the launching machine, with the input readers, before the pipeline is built.

Eval suites are small (thousands to millions of n-grams), and a wrong path or
field must fail the run before anything runs, so they are read here, not in the
pipeline. The bytes go through the same readers as the corpus
(``transforms.io.readers``: JSONL, Parquet or text, compressed or not, local or
remote); a row that cannot be read is counted and named, never skipped silently.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from apache_beam.io.filesystems import FileSystems
from pydantic import BaseModel, ConfigDict, Field

from transforms.core.paths import resolve_path
from transforms.io.readers import JSONL, PARQUET, TEXT, pattern_base, read_file

MAX_ITEM_BYTES = 32 * 2**20
NAMED_UNREADABLE = 10  # unreadable rows named in the stats; all are counted


class EvalSetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    paths: list[str] = Field(min_length=1, description="globs, relative to the config file; local or remote")
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1,
                              description="joined with a space into the item's text (prompt and answer)")
    format: Literal["jsonl", "parquet", "text"] = "jsonl"
    id_field: str = Field("id", description="the item's id; absent: file:line")


@dataclass
class EvalSet:
    name: str
    items: list[tuple[str, str]] = field(default_factory=list)  # (item id, text)
    files: int = 0
    rows: int = 0
    unreadable: int = 0
    unreadable_examples: list[str] = field(default_factory=list)

    def bad_row(self, where: str, why: str) -> None:
        self.unreadable += 1
        if len(self.unreadable_examples) < NAMED_UNREADABLE:
            self.unreadable_examples.append(f"{where}: {why}")


def _row(record: dict, fmt: str) -> tuple[dict | None, str | None]:
    """A raw record → (row, None) or (None, why it cannot be read)."""
    if "_read_error" in record:
        return None, record["_read_error"]
    if record.get("_input_fault"):
        fault = record["_input_fault"]
        return None, f"{fault['reason']}: {fault['detail']}"
    if record.get("_truncated"):
        return None, f"longer than {MAX_ITEM_BYTES:,} bytes"
    if fmt == PARQUET:
        return record["_record"], None
    try:
        text = record["_raw"].decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc}"
    if fmt == TEXT:
        return {"text": text}, None
    if not text.strip():
        return None, "empty line"
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"
    return (row, None) if isinstance(row, dict) else (None, f"a JSON {type(row).__name__}, not an object")


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return "" if value is None else str(value)


def read_eval_set(cfg: EvalSetConfig, config_dir: str) -> EvalSet:
    """Every row of the set's files as (item id, text); a pattern with no file or a field no row has is an error."""
    out = EvalSet(cfg.name)
    fmt = {"jsonl": JSONL, "parquet": PARQUET, "text": TEXT}[cfg.format]
    seen_fields: set[str] = set()
    for raw_pattern in cfg.paths:
        pattern = resolve_path(raw_pattern, config_dir)
        matched = FileSystems.match([pattern])[0].metadata_list
        if not matched:
            raise ValueError(f"decontaminate: eval set {cfg.name!r}: {raw_pattern} matches no file")
        for metadata in sorted(matched, key=lambda m: m.path):
            out.files += 1
            for record in read_file(metadata, fmt, pattern_base(pattern), MAX_ITEM_BYTES):
                where = f"{record['origin_file']}:{record['origin_line']}" if record.get("origin_line") \
                    else record["origin_file"]
                row, why = _row(record, fmt)
                if row is None:
                    out.bad_row(where, why)
                    continue
                out.rows += 1
                present = [f for f in cfg.fields if f in row]
                seen_fields.update(present)
                item_id = row.get(cfg.id_field)
                out.items.append((where if item_id is None else str(item_id),
                                  " ".join(_text(row[f]) for f in present)))
    missing = [f for f in cfg.fields if f not in seen_fields]
    if missing and out.rows:
        raise ValueError(f"decontaminate: eval set {cfg.name!r}: no row has the field(s) {missing} "
                         f"({out.rows:,} rows read)")
    if not out.rows:
        raise ValueError(f"decontaminate: eval set {cfg.name!r}: no readable row in {out.files} file(s); "
                         f"{'; '.join(out.unreadable_examples[:3])}")
    return out
