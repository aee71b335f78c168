"""Release validation: every check runs, and every violation is listed before a release aborts.

The checks read the files back (not the pipeline's claims): each file's bytes
against the manifest's sha256, each data shard against the schema, then the
rows themselves for unique ids, non-empty text and no repeated
normalized-text hash (``transforms.core.text_hash``, the same key exact dedup uses).
Ids and hashes are held as 16-byte digests, so a release of N rows needs about
N × 100 bytes of memory on the machine that cuts it.
"""
from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas import DOCUMENT_SCHEMA, SCHEMA_VERSION
from transforms.core.ledger import ledger_violations
from transforms.core.text_hash import normalized_text_hash

SCHEMA_KEY = b"corpusmill.schema_version"
SHOWN = 20  # violations listed per check; the rest are counted


@dataclass
class CheckResult:
    name: str
    checked: str  # what was looked at, e.g. "3 files"
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def line(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'} {self.name} ({self.checked})"
        shown = [f"  - {v}" for v in self.violations[:SHOWN]]
        if len(self.violations) > SHOWN:
            shown.append(f"  - … and {len(self.violations) - SHOWN} more")
        return "\n".join([head] + shown)


def _digest(value: str) -> bytes:
    return hashlib.blake2b(value.encode("utf-8"), digest_size=16).digest()


def schema_problems(schema: pa.Schema, manifest_version: str) -> list[str]:
    problems = []
    version = (schema.metadata or {}).get(SCHEMA_KEY, b"").decode() or None
    if version != SCHEMA_VERSION:
        problems.append(f"schema version {version!r}, expected {SCHEMA_VERSION!r}")
    if manifest_version != SCHEMA_VERSION:
        problems.append(f"manifest schema_version {manifest_version!r}, expected {SCHEMA_VERSION!r}")
    expected = [(f.name, f.type) for f in DOCUMENT_SCHEMA]
    actual = [(f.name, f.type) for f in schema]
    if actual != expected:
        missing = sorted({n for n, _ in expected} - {n for n, _ in actual})
        changed = sorted(n for n, t in actual if (n, t) not in expected)
        problems.append(f"columns differ from schema v{SCHEMA_VERSION}: missing {missing}, unexpected or retyped {changed}")
    return problems


def repeated(counter: Counter) -> dict:
    return {k: n for k, n in counter.items() if n > 1}


class _RowChecks:
    """Accumulates ids, empty texts and text hashes over all data shards."""

    def __init__(self):
        self.ids: Counter = Counter()
        self.hashes: Counter = Counter()
        self.first_id: dict[bytes, str] = {}
        self.id_names: dict[bytes, str] = {}
        self.empty: list[str] = []
        self.rows = 0

    def add(self, table: pa.Table, shard: str) -> None:
        for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist()):
            self.rows += 1
            key = _digest(doc_id or "")
            self.ids[key] += 1
            self.id_names.setdefault(key, doc_id)
            if text is None or not text.strip():
                self.empty.append(f"{shard}: id {doc_id!r} has empty text")
                continue
            text_key = bytes.fromhex(normalized_text_hash(text))
            self.hashes[text_key] += 1
            self.first_id.setdefault(text_key, doc_id)

    def results(self, shards: str) -> list[CheckResult]:
        dup_ids = [f"id {self.id_names[k]!r} occurs {n} times" for k, n in repeated(self.ids).items()]
        dup_texts = [
            f"{n} kept rows share one normalized text (first id {self.first_id[k]!r})"
            for k, n in repeated(self.hashes).items()
        ]
        return [
            CheckResult("unique ids", f"{self.rows:,} rows in {shards}", dup_ids),
            CheckResult("no empty text", f"{self.rows:,} rows", self.empty),
            CheckResult("no duplicate normalized text", f"{len(self.hashes):,} distinct hashes", dup_texts),
        ]


def validate_run(root: str, manifest: dict) -> list[CheckResult]:
    """All release checks over a finished run directory; never stops at the first failure."""
    files = [(f, "data") for f in manifest.get("shards", [])] + [(f, "rejected") for f in manifest.get("rejected", [])]
    checksum = CheckResult("manifest sha256 matches", f"{len(files)} files")
    readable = CheckResult("shards readable, schema v" + SCHEMA_VERSION, f"{len(manifest.get('shards', []))} data shards")
    rows = _RowChecks()
    shard_rows = 0
    for entry, kind in files:
        path = FileSystems.join(root, entry["path"])
        try:
            with FileSystems.open(path, mime_type="application/octet-stream") as fh:
                data = fh.read()
        except Exception as exc:  # noqa: BLE001 - a missing or unreadable file is a violation, not a crash
            checksum.violations.append(f"{entry['path']}: cannot read ({type(exc).__name__})")
            if kind == "data":
                readable.violations.append(f"{entry['path']}: cannot read")
            continue
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            checksum.violations.append(f"{entry['path']}: sha256 differs from the manifest")
        if kind != "data":
            continue
        try:
            table = pq.read_table(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - report the unreadable shard and go on
            readable.violations.append(f"{entry['path']}: not readable as Parquet ({exc})")
            continue
        readable.violations.extend(f"{entry['path']}: {p}" for p in schema_problems(table.schema, manifest.get("schema_version")))
        if table.num_rows != entry.get("rows"):
            readable.violations.append(f"{entry['path']}: {table.num_rows} rows, manifest says {entry.get('rows')}")
        if {"id", "text"} <= set(table.column_names):
            rows.add(table, entry["path"])
            shard_rows += table.num_rows
    ledger = manifest.get("ledger", [])
    balance = CheckResult("ledger balances", f"{len(ledger)} stages", ledger_violations(ledger))
    balance.violations += [p for p in manifest.get("ledger_problems", []) if p not in balance.violations]
    if manifest.get("status") != "ok":
        balance.violations.append(f"run status is {manifest.get('status')!r}, not 'ok'")
    if ledger and ledger[-1]["kept"] != shard_rows:
        balance.violations.append(f"shards hold {shard_rows} rows but the last stage kept {ledger[-1]['kept']}")
    return [readable, checksum, balance] + rows.results(f"{len(manifest.get('shards', []))} shards")
