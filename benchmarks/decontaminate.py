"""Speed and memory of ``decontaminate``: docs/s per core, and the index's size per million eval n-grams.

Eval items and documents are paragraphs of the Debian documentation this
machine has (``machine_text``; nobody on the team wrote them): items of about
100 words until the index holds ``--ngrams`` distinct 13-grams, documents of
about 2 KB from other paragraphs. Measured in this one process (one core):

- building the index: wall time, its arrays' bytes, and the process's RSS growth;
- searching ``--docs`` documents against it: docs/s (the stage's per-document work);
- the stage end to end on Beam (FnApiRunner, 1 worker) over the same documents,
  minus a read → sink pass over them: the stage's own docs/s per core.

    PYTHONPATH=. .venv/bin/python benchmarks/decontaminate.py [--ngrams 1000000] [--docs 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from machine_text import doc_file_texts  # noqa: E402


def paragraphs() -> list[str]:
    out = []
    for _, text in doc_file_texts():
        out += [" ".join(p.split()) for p in text.split("\n\n") if 200 <= len(p) <= 3000]
    return sorted(set(out))


def timed_run(raw: dict, config_dir: str) -> float:
    from pipelines.config import config_from_dict
    from pipelines.run import run

    start = time.perf_counter()
    run(config_from_dict(raw, config_dir), [], log=lambda *_: None)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ngrams", type=int, default=1_000_000)
    ap.add_argument("--docs", type=int, default=20_000)
    args = ap.parse_args()
    from transforms.decontam.eval_index import EvalIndex

    pool = paragraphs()
    half = len(pool) // 2
    items, grams = [], 0
    for i, text in enumerate(pool[:half]):
        if grams >= args.ngrams:
            break
        items.append(("bench", f"item-{i}", text))
        grams += max(0, len(text.split()) - 12)
    if grams < args.ngrams:
        sys.exit(f"the machine's documentation gives only ~{grams:,} eval n-grams")
    docs, rest = [], pool[half:]
    for i in range(args.docs):
        parts, size = [], 0
        while size < 2000:
            parts.append(rest[(i * 7 + len(parts)) % len(rest)])
            size += len(parts[-1])
        docs.append("\n\n".join(parts)[:2500])
    proc = psutil.Process()
    rss0, start = proc.memory_info().rss, time.perf_counter()
    index = EvalIndex.build(items, 13)
    build_s, rss_growth = time.perf_counter() - start, proc.memory_info().rss - rss0
    n = len(index.ngrams.keys)
    print(f"index: {len(items):,} eval items, {n:,} distinct 13-grams; built in {build_s:.1f} s; arrays "
          f"{index.nbytes / 2**20:.1f} MiB ({index.nbytes / n * 1e6 / 2**20:.1f} MiB per million n-grams); "
          f"process RSS +{rss_growth / 2**20:.0f} MiB")
    start = time.perf_counter()
    hits = sum(1 for d in docs if index.search(d))
    search_s = time.perf_counter() - start
    print(f"search: {len(docs):,} documents of ~2 KB in {search_s:.1f} s = {len(docs) / search_s:,.0f} docs/s "
          f"on one core ({hits:,} with a match)")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "in.jsonl"), "w") as fh:
            fh.writelines(json.dumps({"id": f"d{i:07d}", "text": t}) + "\n" for i, t in enumerate(docs))
        with open(os.path.join(tmp, "evals.jsonl"), "w") as fh:
            fh.writelines(json.dumps({"id": item_id, "text": text}) + "\n" for _, item_id, text in items)
        base = {"input": {"paths": [os.path.join(tmp, "in.jsonl")]}, "runner": {"name": "FnApiRunner"}}
        passed = timed_run({**base, "output": {"dir": os.path.join(tmp, "pass")}, "stages": []}, tmp)
        staged = timed_run({**base, "output": {"dir": os.path.join(tmp, "decon")}, "stages": [
            {"decontaminate": {"eval_sets": [{"name": "bench", "paths": ["evals.jsonl"]}]}}]}, tmp)
    print(f"stage end to end (FnApiRunner, 1 worker): run {staged:.1f} s, read → sink pass {passed:.1f} s; "
          f"the stage's own {len(docs) / max(staged - passed, 1e-9):,.0f} docs/s per core (index build included)")


if __name__ == "__main__":
    main()
