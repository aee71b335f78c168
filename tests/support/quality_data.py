"""Real text from the bundled sample (Python docs, Debian Reference in 7 languages, Shakespeare, licenses, fortunes)."""
from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import zstandard

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"


@lru_cache(maxsize=None)
def sample_records(name: str) -> tuple[dict, ...]:
    path = SAMPLE_DIR / name
    raw = path.read_bytes()
    if path.suffix == ".zst":
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    elif path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return tuple(json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip())


MIXED_SOURCES = (
    "python-docs.jsonl.zst", "shakespeare.jsonl.zst", "licenses.jsonl.zst",
    "fortunes.jsonl.gz", "sonnets.jsonl", "debian-reference.jsonl.zst",
)


def mixed_texts(per_source: int, max_chars: int | None = None) -> list[tuple[str, str]]:
    """``(id, text)`` pairs: the first ``per_source`` records of each source (optionally ≤ max_chars)."""
    out = []
    for name in MIXED_SOURCES:
        records = [r for r in sample_records(name) if max_chars is None or len(r["text"]) <= max_chars]
        out.extend((f"{name.split('.')[0]}-{i}", r["text"]) for i, r in enumerate(records[:per_source]))
    return out
