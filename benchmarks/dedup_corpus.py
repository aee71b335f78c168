"""Real text for the dedup benchmarks, and near-duplicates made from it by real edits.

Documents come from the bundled sample corpus (``data/sample``: Python docs, Debian
reference, licenses, Shakespeare, fortunes). ``revise`` makes a near-duplicate the way
a document gets revised: it deletes, inserts and replaces words and whole lines, in
small runs, until the given fraction of its words has been touched.
"""
from __future__ import annotations

import glob
import gzip
import io
import json
import os
import random

import zstandard

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sample", "*.jsonl*")


def _records() -> list[dict]:
    out = []
    for path in sorted(glob.glob(SAMPLE)):
        with open(path, "rb") as fh:
            raw = fh.read()
        if path.endswith(".zst"):
            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
        elif path.endswith(".gz"):
            raw = gzip.decompress(raw)
        for line in raw.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("text"), str) and record["text"].strip():
                out.append(record)
    return out


def sample_documents(min_words: int = 0) -> list[str]:
    """Distinct documents of the sample corpus, in a fixed order."""
    seen, docs = set(), []
    for record in _records():
        text = record["text"]
        if text not in seen and len(text.split()) >= min_words:
            seen.add(text)
            docs.append(text)
    return docs


def sample_paragraphs(min_chars: int = 40) -> list[str]:
    """Distinct paragraphs (blank-line separated) of the sample documents."""
    seen, out = set(), []
    for doc in sample_documents():
        for p in doc.split("\n\n"):
            p = p.strip()
            if len(p) >= min_chars and p not in seen:
                seen.add(p)
                out.append(p)
    return out


def revise(text: str, fraction: float, rng: random.Random, vocabulary: list[str]) -> str:
    """Touch ``fraction`` of the words: runs of 1-4 word deletions, insertions or
    replacements (words drawn from ``vocabulary``), and now and then a whole line
    deleted or duplicated."""
    lines = [line.split() for line in text.split("\n")]
    total = sum(len(words) for words in lines)
    budget = max(1, round(total * fraction))
    while budget > 0:
        nonempty = [i for i, words in enumerate(lines) if words]
        if not nonempty:
            break
        li = rng.choice(nonempty)
        words = lines[li]
        op = rng.random()
        if op < 0.05 and len(nonempty) > 1 and len(words) <= budget:
            budget -= len(words)
            del lines[li]
            continue
        run = min(rng.randint(1, 4), budget)
        at = rng.randrange(len(words) + 1)
        if op < 0.35:
            del words[at : at + run]
        elif op < 0.65:
            words[at:at] = rng.choices(vocabulary, k=run)
        else:
            words[at : at + run] = rng.choices(vocabulary, k=run)
        budget -= run
    return "\n".join(" ".join(words) for words in lines)


def write_sharded_jsonl(directory: str, records, files: int = 16) -> int:
    """``records`` (dicts) as ``in-000.jsonl.zst`` … round-robin over ``files`` files; the JSONL bytes written."""
    writers = [zstandard.ZstdCompressor(level=3).stream_writer(open(os.path.join(directory, f"in-{i:03d}.jsonl.zst"), "wb"))
               for i in range(files)]
    size = 0
    for i, record in enumerate(records):
        line = (json.dumps(record) + "\n").encode()
        writers[i % files].write(line)
        size += len(line)
    for w in writers:
        w.close()
    return size
