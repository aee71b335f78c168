"""Docs/s and peak memory of the full ``minhash_dedup`` stage on Beam, 2 workers.

Short documents built from real text: each is 1-3 paragraphs of the bundled sample
(seeded), and every 10th document is a revision (``revise``, 5% of the words) of an
earlier one, so there are real clusters to find. The corpus is written as 16
.jsonl.zst files and run through read → normalize → minhash_dedup (default config:
14×8 bands, exact verification) → Parquet on FnApiRunner with
``--direct_num_workers=2 --direct_running_mode=multi_processing``.

Peak memory is the largest sum of RSS over this process and all its children
(the Beam workers), sampled every 0.2 s. The Beam graph size (transforms, and
GroupByKeys among them) is counted from the pipeline proto before running.

    .venv/bin/python benchmarks/dedup_scale.py [--docs 10000 100000] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time

import apache_beam as beam
import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dedup_corpus import revise, sample_paragraphs, write_sharded_jsonl  # noqa: E402

from pipelines.build import build_pipeline  # noqa: E402
from pipelines.config import config_from_dict  # noqa: E402
from pipelines.run import pipeline_options, run  # noqa: E402


def make_corpus(directory: str, docs: int, files: int = 16, seed: int = 0) -> int:
    rng = random.Random(seed)
    paragraphs = sample_paragraphs()
    vocabulary = [w for p in paragraphs[:2000] for w in p.split()]

    def records():
        recent: list[str] = []
        for i in range(docs):
            if i % 10 == 9 and recent:
                text = revise(rng.choice(recent), 0.05, rng, vocabulary)
            else:
                text = "\n\n".join(rng.choice(paragraphs) for _ in range(rng.randint(1, 3)))
                recent = (recent + [text])[-1000:]
            yield {"id": f"d{i:08d}", "text": text}

    return write_sharded_jsonl(directory, records(), files)


class PeakRss:
    """Largest RSS sum over this process tree while running."""

    def __init__(self, interval: float = 0.2):
        self.peak = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me] + me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def graph_size(cfg) -> tuple[int, int]:
    """(primitive transforms, GroupByKeys) in the pipeline this config builds."""
    pipeline = beam.Pipeline(options=pipeline_options(cfg, []))
    build_pipeline(pipeline, cfg, cfg.output.dir)
    transforms = pipeline.to_runner_api().components.transforms.values()
    leaves = [t for t in transforms if not t.subtransforms]
    gbks = [t for t in leaves if t.spec.urn == "beam:transform:group_by_key:v1"]
    return len(leaves), len(gbks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, workers: {args.workers} (multi_processing), load avg: {os.getloadavg()[0]:.1f}")
    for n in args.docs:
        with tempfile.TemporaryDirectory() as tmp:
            size = make_corpus(tmp, n)
            raw = {
                "input": {"paths": [os.path.join(tmp, "*.jsonl.zst")]},
                "output": {"dir": os.path.join(tmp, "out"), "shard_rows": 50_000},
                "runner": {
                    "name": "FnApiRunner",
                    "options": {"direct_num_workers": args.workers, "direct_running_mode": "multi_processing"},
                },
                "stages": [{"minhash_dedup": {}}],
            }
            cfg = config_from_dict(raw, os.getcwd())
            leaves, gbks = graph_size(cfg)
            cpu0 = psutil.Process().cpu_times()
            with PeakRss() as mem:
                start = time.perf_counter()
                manifest = run(cfg, [], log=lambda *_: None)
                wall = time.perf_counter() - start
            cpu1 = psutil.Process().cpu_times()
            cpu = (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system) - (
                cpu0.user + cpu0.system + cpu0.children_user + cpu0.children_system
            )
            s = manifest["stage_stats"]["minhash_dedup"]
            print(
                f"{n:>9,} docs ({size / 1e6:.0f} MB JSONL): {wall:7.1f} s wall, {n / wall:7,.0f} docs/s, "
                f"CPU {cpu:7.1f} s, peak RSS {mem.peak / 2**30:.2f} GiB | graph: {leaves} transforms, {gbks} GBKs | "
                f"candidates {s['candidate_edges']:,}, verified {s['verified_edges']:,}, "
                f"rejected {s.get('rejected_edges', 0):,}, clusters {s['clusters']:,}, "
                f"dropped {s['near_duplicates_dropped']:,}, rounds used {s['rounds_used']} "
                f"(changes {s['changes_per_round']})"
            )


if __name__ == "__main__":
    main()
