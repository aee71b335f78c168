"""The icp_order stage's steps in one process, for benchmarks: same functions, no Beam.

Mirrors ``transforms.ordering.icp_order.IcpOrder``: bounded sample → k-means centroids →
nearest centroid → clusters over the cap split by id hash → ``order_group`` per
group → groups chained by ``plan_groups``. What Beam adds (shuffles, pickling,
workers) is not measured here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from transforms.core.text_hash import stable_bucket
from transforms.ordering.clustering import kmeans_centroids
from transforms.ordering.icp_order import IcpOrderConfig, cluster_count, plan_groups
from transforms.ordering.icp_walk import order_group, random_order_cosine


@dataclass
class InProcessOrder:
    path: np.ndarray  # row indices in reading order (near-duplicates left out)
    stats: dict
    seconds: dict


def order_in_process(vectors: np.ndarray, tokens: np.ndarray, cfg: IcpOrderConfig, seed: int = 0) -> InProcessOrder:
    import time

    t0 = time.perf_counter()
    n = len(vectors)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(n, min(n, cfg.kmeans_sample), replace=False))]
    centroids = kmeans_centroids(sample, cluster_count(n, len(sample), cfg), cfg.kmeans_iterations, seed)
    t1 = time.perf_counter()
    cluster = np.concatenate([
        np.argmax(vectors[i:i + 65536] @ centroids.T, axis=1) for i in range(0, n, 65536)
    ])
    sizes = np.bincount(cluster, minlength=len(centroids))
    part = np.zeros(n, dtype=np.int64)
    for c in np.flatnonzero(sizes > cfg.max_cluster_docs):
        parts = math.ceil(sizes[c] / cfg.max_cluster_docs)
        members = np.flatnonzero(cluster == c)
        part[members] = [stable_bucket(str(i), parts) for i in members]
    keys = cluster * (part.max() + 1) + part
    by_key = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[by_key])) + 1
    t2 = time.perf_counter()
    summaries, paths = [], {}
    for rows in np.split(by_key, bounds):
        if not len(rows):
            continue
        order = order_group(vectors[rows], tokens[rows], cfg.knn, cfg.duplicate_threshold, cfg.context_tokens)
        key = (int(cluster[rows[0]]), int(part[rows[0]]))
        paths[key] = rows[order.path]
        summaries.append({
            "key": key, "docs": len(rows), "kept": len(order.path), "contexts": order.contexts.count,
            "centroid": vectors[rows[order.path]].mean(axis=0).tolist(),
            "cosine_sum": order.cosine_sum, "cosine_pairs": order.cosine_pairs,
            "jumps": max(int(order.jumped.sum()) - 1, 0),
            "spanning": int((order.contexts.last_context > order.contexts.context).sum()),
        })
    t3 = time.perf_counter()
    random_cos = random_order_cosine(sample, seed)
    plan = plan_groups(summaries, {"centroids": centroids, "random_order_cosine": random_cos, "sample": len(sample)}, cfg.knn.k)
    path = np.concatenate([paths[k] for k, _ in sorted(plan["offsets"].items(), key=lambda kv: kv[1][0])])
    t4 = time.perf_counter()
    return InProcessOrder(path, dict(plan["stats"]), {
        "kmeans": t1 - t0, "assign_split": t2 - t1, "order_groups": t3 - t2, "chain": t4 - t3, "total": t4 - t0,
    })
