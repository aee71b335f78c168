"""icp_order at 1M documents, ordering only: time and peak memory on 2 cores, and growth from 100k.

Embeddings are precomputed stand-ins for MiniLM's: 384-d, L2-normalized,
drawn around 1,000 topic centres (clustered Gaussian), so kNN lists and the
walk behave as on real text rather than on uniform noise. Token lengths are
log-normal (median ~300). Everything after the embeddings runs with the
stage's defaults and functions (benchmarks/icp_inprocess.py): 100k-row
k-means sample, clusters of ~20k, exact faiss kNN k = 50, near-dup threshold
0.95, Algorithm 1, 2048-token contexts, groups chained over centroids.
Each size runs in its own process, so the peak RSS is that size's alone
(it includes the embedding matrix itself: n × 384 × 4 bytes).

    PYTHONPATH=. .venv/bin/python benchmarks/icp_order.py [--sizes 100000 1000000] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DIM = 384
TOPICS = 1000


def clustered_embeddings(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((TOPICS, DIM), dtype=np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        topic = rng.integers(0, TOPICS, stop - start)
        block = centres[topic] + 1.2 * rng.standard_normal((stop - start, DIM), dtype=np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    tokens = np.maximum(rng.lognormal(5.7, 0.8, n).astype(np.int64), 1)
    return out, tokens


def one_size(n: int, threads: int) -> dict:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import faiss
    from icp_inprocess import order_in_process

    from transforms.ordering.icp_order import IcpOrderConfig

    faiss.omp_set_num_threads(threads)
    t0 = time.perf_counter()
    vectors, tokens = clustered_embeddings(n)
    generate = time.perf_counter() - t0
    cpu0 = time.process_time()
    result = order_in_process(vectors, tokens, IcpOrderConfig())
    cpu = time.process_time() - cpu0
    assert len(result.path) + 0 <= n and len(set(result.path.tolist())) == len(result.path)
    return {
        "docs": n,
        "ordered": int(len(result.path)),
        "generate_s": round(generate, 1),
        "order_s": round(result.seconds["total"], 1),
        "order_cpu_s": round(cpu, 1),
        "steps_s": {k: round(v, 1) for k, v in result.seconds.items() if k != "total"},
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "embeddings_gib": round(vectors.nbytes / 2**30, 2),
        "stats": {k: result.stats[k] for k in ("clusters", "groups", "group_sizes", "mean_adjacent_cosine",
                                                "random_order_cosine", "docs_jumped_to", "contexts")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.threads)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads), "NUMBA_NUM_THREADS": str(args.threads)}
    results = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--threads", str(args.threads)],
                             env=env, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    for small, big in zip(results, results[1:]):
        print(f"{small['docs']:,} → {big['docs']:,} docs ({big['docs'] / small['docs']:.0f}x): "
              f"time {small['order_s']} s → {big['order_s']} s ({big['order_s'] / small['order_s']:.1f}x), "
              f"peak RSS {small['peak_rss_gib']} → {big['peak_rss_gib']} GiB ({big['peak_rss_gib'] / small['peak_rss_gib']:.1f}x)")


if __name__ == "__main__":
    main()
