"""Wall time and Beam graph size of ``StarComponents`` alone, 2 workers (multi_processing).

30,000 random edges over 200,000 ids (seeded), ``max_rounds`` 16 (the old default) so
runs before and after a change to the transform compare like with like. On small
edge sets the cost is the per-stage overhead of the unrolled rounds, not the data.

    .venv/bin/python benchmarks/dedup_components.py [--rounds 16] [--edges 30000]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transforms.dedup.star_components import StarComponents, convergence  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the Beam workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--edges", type=int, default=30_000)
    args = parser.parse_args()
    rng = random.Random(0)
    edges = [(rng.randrange(200_000), rng.randrange(200_000)) for _ in range(args.edges)]
    edges = [(max(a, b), min(a, b)) for a, b in edges if a != b]
    options = PipelineOptions(
        ["--runner=FnApiRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    )
    pipeline = beam.Pipeline(options=options)
    cc = pipeline | beam.Create(edges) | StarComponents(args.rounds)
    _ = (cc["changes"] | beam.CombinePerKey(sum) | beam.combiners.ToDict()
         | beam.Map(lambda d: print(f"rounds used {convergence(d, args.rounds)['rounds_used']}", flush=True)))
    start, cpu0 = time.perf_counter(), _cpu()
    pipeline.run().wait_until_finish()
    wall, cpu = time.perf_counter() - start, _cpu() - cpu0
    leaves = [t for t in pipeline.to_runner_api().components.transforms.values() if not t.subtransforms]
    print(f"{len(edges):,} edges, max_rounds {args.rounds}: {wall:.1f} s wall, {cpu:.1f} CPU-s, {len(leaves)} transforms, load avg {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
