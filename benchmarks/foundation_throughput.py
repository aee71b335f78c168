"""Docs/s of read → normalize → exact_dedup → write on ~200 MB of JSONL, 1 vs 2 workers.

Documents are real text: paragraphs of the bundled sample corpus recombined
(seeded) into new documents until the target size is reached, written as
several .jsonl.zst files so the read can spread over workers. Both runs use
FnApiRunner in multi_processing mode, one after the other in this process.

    .venv/bin/python benchmarks/foundation_throughput.py [--mb 200] [--files 16]
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
import random
import sys
import tempfile
import time

import zstandard

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.config import config_from_dict  # noqa: E402
from pipelines.run import run  # noqa: E402

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "sample", "*.jsonl*")


def sample_paragraphs() -> list[str]:
    paragraphs = []
    for path in sorted(glob.glob(SAMPLE)):
        with open(path, "rb") as fh:
            raw = fh.read()
        if path.endswith(".zst"):
            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
        elif path.endswith(".gz"):
            import gzip

            raw = gzip.decompress(raw)
        for line in raw.splitlines():
            try:
                text = json.loads(line).get("text")
            except (ValueError, AttributeError):
                continue
            if isinstance(text, str):
                paragraphs.extend(p for p in text.split("\n\n") if len(p) > 40)
    return paragraphs


def make_corpus(directory: str, megabytes: int, files: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    paragraphs = sample_paragraphs()
    target = megabytes * 1_000_000
    writers = [
        zstandard.ZstdCompressor(level=3).stream_writer(open(os.path.join(directory, f"in-{i:03d}.jsonl.zst"), "wb"))
        for i in range(files)
    ]
    written = docs = 0
    previous = None
    while written < target:
        text = "\n\n".join(rng.choice(paragraphs) for _ in range(rng.randint(1, 6)))
        if docs % 20 == 0 and previous:
            text = previous  # an exact duplicate every 20 docs, for exact_dedup to find
        line = (json.dumps({"text": text, "source": "bench"}) + "\n").encode()
        writers[docs % files].write(line)
        written += len(line)
        docs += 1
        previous = text
    for w in writers:
        w.close()
    return docs


def timed_run(pattern: str, out: str, workers: int) -> tuple[float, dict]:
    raw = {
        "input": {"paths": [pattern]},
        "output": {"dir": out, "shard_rows": 20000},
        "runner": {"name": "FnApiRunner", "options": {"direct_num_workers": workers, "direct_running_mode": "multi_processing"}},
        "stages": [{"exact_dedup": {}}],
    }
    cfg = config_from_dict(raw, os.getcwd())
    start = time.perf_counter()
    manifest = run(cfg, [], log=lambda *_: None)
    return time.perf_counter() - start, manifest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--files", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs = make_corpus(tmp, args.mb, args.files)
        size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(tmp, "*.zst")))
        print(f"corpus: {docs:,} docs, {args.mb} MB of JSONL ({size / 1e6:.0f} MB zstd) in {args.files} files")
        pattern = os.path.join(tmp, "*.jsonl.zst")
        results = {}
        for workers in (1, 2):
            seconds, manifest = timed_run(pattern, os.path.join(tmp, f"out{workers}"), workers)
            results[workers] = (seconds, manifest)
            print(
                f"{workers} worker(s): {seconds:7.1f} s  {docs / seconds:8,.0f} docs/s  "
                f"kept={manifest['totals']['kept_rows']:,} shards={len(manifest['shards'])}"
            )
        same = [s["sha256"] for s in results[1][1]["shards"]] == [s["sha256"] for s in results[2][1]["shards"]]
        print(f"speedup 2 vs 1 worker: {results[1][0] / results[2][0]:.2f}x   identical shards: {same}")


if __name__ == "__main__":
    main()
