"""The ``minhash_dedup`` stage's own speed on one worker, and where its time goes.

Corpus: ``local_memory``'s N documents of about 2 KB (Debian documentation with
planted near-duplicates and exact copies). Both runs use FnApiRunner with one
in-process worker:

- ``pass``: read → normalize → sink;
- ``minhash``: read → normalize → minhash_dedup (default config) → sink.

The stage's own time is the difference, and docs/s per core is N over it. Then
both runs once more under cProfile: per step, the cumulative time inside its
DoFns and kernels in the minhash run minus the pass (the pass also parks and
reads back documents, for normalize and the sink), as a share of the stage's
own time; what no step accounts for is Beam (coders, shuffles, the runner's
buffers, per-stage setup). The profiler slows Python code, so read the split
as shares, not seconds.

    PYTHONPATH=. .venv/bin/python benchmarks/minhash_speed.py [--docs 50000] [--no-profile] [--stage JSON]

``--stage '{"max_rounds": 2}'`` sets the stage's config (default: the defaults).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import apache_beam as beam  # noqa: E402
from local_memory import make_corpus  # noqa: E402

from pipelines.build import build_pipeline  # noqa: E402
from pipelines.config import config_from_dict  # noqa: E402
from pipelines.run import pipeline_options, run  # noqa: E402


def steps() -> list[tuple[str, list]]:
    """Profile buckets: (step, functions whose cumulative time is the step's)."""
    from transforms.core import keyed_runs, runner
    from transforms.dedup import (
        candidate_docs,
        cluster_keepers,
        lsh_candidates,
        minhash_signatures,
        star_components,
        verify_edges,
    )
    from transforms.io import spill

    return [
        ("park documents on disk (write)", [spill._SpillFn.process, spill._SpillFn.finish_bundle]),
        ("signatures + band keys", [minhash_signatures._SignatureFn.process,
                                    minhash_signatures._SignatureFn.finish_bundle]),
        ("band keys and payloads read back from their runs", [keyed_runs.read_range]),
        ("LSH buckets → star edges", [lsh_candidates._BucketsFn.process]),
        ("endpoint ranks + shingle sets (parked ids read)", [candidate_docs._CandidateFn.process,
                                                             candidate_docs._CandidateFn.finish_bundle]),
        ("verify candidate edges", [verify_edges._VerifyFn.process]),
        ("connected components (star rounds)", [star_components._StarFn.process, star_components._GatedKeysFn.process]),
        ("keepers", [cluster_keepers._KeeperCombine.add_input, cluster_keepers._root_and_rank,
                     cluster_keepers._members]),
        ("read parked documents back", [spill._ReadSpilledFn.process]),
        ("route past the decision", [runner.RouteByDecision.process]),
    ]


def config(corpus: str, out: str, stages: list) -> dict:
    return {"input": {"paths": [os.path.join(corpus, "*.jsonl.zst")]}, "output": {"dir": out, "shard_rows": 50_000},
            "runner": {"name": "FnApiRunner"}, "stages": stages}


def graph_size(cfg) -> tuple[int, int]:
    """(primitive transforms, GroupByKeys) of the whole run's pipeline."""
    pipeline = beam.Pipeline(options=pipeline_options(cfg, []))
    build_pipeline(pipeline, cfg, cfg.output.dir)
    leaves = [t for t in pipeline.to_runner_api().components.transforms.values() if not t.subtransforms]
    return len(leaves), sum(t.spec.urn == "beam:transform:group_by_key:v1" for t in leaves)


def timed(raw: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    manifest = run(config_from_dict(raw, os.getcwd()), [], log=lambda *_: None)
    return time.perf_counter() - start, manifest


def profiled(raw: dict) -> tuple[float, dict]:
    """(wall s under cProfile, seconds per step): each step's functions' cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    start = time.perf_counter()
    run(config_from_dict(raw, os.getcwd()), [], log=lambda *_: None)
    total = time.perf_counter() - start
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # (file, first line, name) → (cc, nc, tt, cumulative, callers)
    spent = {}
    for step, functions in steps():
        codes = {(f.__code__.co_filename, f.__code__.co_firstlineno, f.__name__) for f in functions}
        spent[step] = sum(stats[c][3] for c in codes if c in stats)
    return total, spent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--stage", default="{}", help="minhash_dedup config as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="minhash-speed-") as tmp:
        corpus = os.path.join(tmp, "corpus")
        os.makedirs(corpus)
        size = make_corpus(corpus, args.docs)
        print(f"{args.docs:,} documents, {size / 1e6:.0f} MB of JSONL; FnApiRunner, 1 in-process worker; "
              f"load average {os.getloadavg()[0]:.1f}")
        mh = config(corpus, os.path.join(tmp, "out-minhash"), [{"minhash_dedup": json.loads(args.stage)}])
        leaves, gbks = graph_size(config_from_dict(mh, os.getcwd()))
        base_leaves, base_gbks = graph_size(config_from_dict(config(corpus, "unused", []), os.getcwd()))
        pass_wall, _ = timed(config(corpus, os.path.join(tmp, "out-pass"), []))
        mh_wall, manifest = timed(mh)
        stage = mh_wall - pass_wall
        stats = manifest["stage_stats"]["minhash_dedup"]
        print(f"read → sink pass {pass_wall:.1f} s; with minhash_dedup {mh_wall:.1f} s; the stage's own "
              f"{stage:.1f} s = {args.docs / stage:,.0f} docs/s per core")
        print(f"stage graph: {leaves - base_leaves} transforms, {gbks - base_gbks} GroupByKeys; "
              f"candidate edges {stats['candidate_edges']:,}, verified {stats['verified_edges']:,}, "
              f"clusters {stats['clusters']:,}, dropped {stats['near_duplicates_dropped']:,}, "
              f"rounds {stats['rounds_used']} (changes per round {stats['changes_per_round']})")
        if not args.no_profile:
            pass_total, pass_steps = profiled(config(corpus, os.path.join(tmp, "prof-pass"), []))
            mh["output"]["dir"] = os.path.join(tmp, "prof-minhash")
            mh_total, mh_steps = profiled(mh)
            own = mh_total - pass_total
            print(f"\nwhere the stage's own time goes (profiled minhash run {mh_total:.1f} s minus profiled "
                  f"pass {pass_total:.1f} s = {own:.1f} s; per step, the difference of the two runs):\n")
            print("| step | share of the stage's own time |\n|---|---:|")
            accounted = 0.0
            for step, _ in steps():
                extra = mh_steps[step] - pass_steps[step]
                accounted += extra
                print(f"| {step} | {extra / own:.0%} |")
            print(f"| Beam: coders, shuffles, the runner's buffers, per-stage setup | {(own - accounted) / own:.0%} |")

if __name__ == "__main__":
    main()
