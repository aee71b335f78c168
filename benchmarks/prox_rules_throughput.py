"""ProX stage docs/s with the rule-based program writer: the pure processor vs the Beam stage.

The same documents (real pages from the bundled sample: the Python docs, HTML rendered
with navigation and footers kept, plus Debian Reference sections) go through

- *pure*: ``ProxProcessor.process_batch`` in this process, with the repeated-line
  set computed in one pass (the same rule as ``RepeatedLines``);
- *Beam*: ``ProxStage`` (RepeatedLines side input, batching, counters, tagged outputs)
  on FnApiRunner with one worker, in memory.

Both decide the same: the kept texts and drop reasons are compared. Wall and CPU
seconds of this process are printed; on a shared machine CPU seconds are the fair
per-core figure.

    PYTHONPATH=. .venv/bin/python benchmarks/prox_rules_throughput.py [--docs 400]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from tests.support.quality_data import sample_records  # noqa: E402
from transforms.core.outcomes import Dropped, Kept  # noqa: E402
from transforms.prox.prox_stage import ProxConfig, ProxProcessor, ProxStage  # noqa: E402
from transforms.prox.rules import line_key  # noqa: E402


def documents(n: int) -> list[dict]:
    pool = [{"id": f"{name}-{k}", "text": r["text"], "source": r["source"]}
            for name in ("python-docs.jsonl.zst", "debian-reference.jsonl.zst")
            for k, r in enumerate(sample_records(name))]
    pool.sort(key=lambda d: hashlib.sha1(d["id"].encode()).digest())  # interleave, deterministically
    return pool[:n]


def repeated_by_source(docs, cfg: ProxConfig) -> dict[str, frozenset[int]]:
    sizes = Counter(d["source"] for d in docs)
    counts = Counter((d["source"], k) for d in docs for k in {line_key(line) for line in d["text"].split("\n") if line.strip()})
    out: dict[str, set[int]] = {}
    for (source, key), n in counts.items():
        if n >= max(cfg.repeat_min_docs, cfg.repeat_min_frac * sizes[source]):
            out.setdefault(source, set()).add(key)
    return {s: frozenset(k) for s, k in out.items()}


def run_pure(docs, cfg):
    start, cpu = time.perf_counter(), time.process_time()
    proc = ProxProcessor(cfg)
    repeated = repeated_by_source(docs, cfg)
    decisions = {}
    for i in range(0, len(docs), cfg.batch_size):
        batch = docs[i:i + cfg.batch_size]
        for doc, outcome in zip(batch, proc.process_batch(batch, repeated=repeated)):
            decisions[doc["id"]] = outcome.doc["text"] if isinstance(outcome, Kept) else \
                ("dropped", outcome.reason) if isinstance(outcome, Dropped) else ("quarantined",)
    return time.perf_counter() - start, time.process_time() - cpu, decisions


class _Collect(beam.DoFn):
    """Decisions back to the driver (FnApiRunner in memory runs in this process)."""

    sink: dict = {}

    def __init__(self, kind):
        self.kind = kind

    def process(self, doc):
        _Collect.sink[doc["id"]] = doc["text"] if self.kind == "kept" else ("dropped", doc["_reject"]["reason"])


def run_beam(docs, cfg):
    _Collect.sink = {}
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
    start, cpu = time.perf_counter(), time.process_time()
    with beam.Pipeline(options=options) as p:
        res = p | beam.Create(docs, reshuffle=False) | ProxStage("prox", cfg)
        _ = res.kept | "K" >> beam.ParDo(_Collect("kept"))
        _ = res.dropped | "D" >> beam.ParDo(_Collect("dropped"))
    return time.perf_counter() - start, time.process_time() - cpu, dict(_Collect.sink)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400)
    args = ap.parse_args()
    docs = documents(args.docs)
    cfg = ProxConfig()
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"{len(docs)} documents ({mb:.1f} MB: Python docs pages + Debian Reference sections), writer=rules, "
          f"doc + chunk level")
    run_pure(docs[:20], cfg)  # warm imports and regex caches for both
    pure_wall, pure_cpu, pure = run_pure(docs, cfg)
    beam_wall, beam_cpu, beamed = run_beam(docs, cfg)
    same = pure == beamed
    changed = sum(1 for d in docs if isinstance(pure.get(d["id"]), str) and pure[d["id"]] != d["text"])
    dropped = sum(1 for v in pure.values() if isinstance(v, tuple))
    print(f"decisions identical: {same} (refined {changed}, dropped {dropped}, unchanged "
          f"{len(docs) - changed - dropped})")
    for name, wall, cpu in (("pure ProxProcessor", pure_wall, pure_cpu), ("Beam ProxStage", beam_wall, beam_cpu)):
        print(f"{name:20s} wall {wall:6.2f} s  {len(docs) / wall:7.1f} docs/s   "
              f"cpu {cpu:6.2f} s  {len(docs) / cpu:7.1f} docs/cpu-s")
    print(f"Beam / pure (cpu-s): {pure_cpu / beam_cpu:.1%} of the pure throughput")


if __name__ == "__main__":
    main()
