"""Precision and recall of the ``minhash_dedup`` stage against exact Jaccard, for
verify none / signature / exact.

Corpus: every distinct document of the bundled sample, plus planted near-duplicates:
for documents of ≥ 80 words, a revision (``revise``: word and line deletions,
insertions, replacements) tuned by bisection on the edit fraction to an exact
Jaccard near a target level in 0.5-0.95. The ground truth is the exact Jaccard of
EVERY pair of documents on the stage's own shingles (datatrove normalization, word
5-grams, xxh64), by brute force: a sparse document × shingle matrix times its
transpose gives all intersection sizes.

Each verify mode runs the real stage on Beam (FnApiRunner) with the default config
(14×8 bands, threshold 0.8). Two documents count as clustered together when they
end up with the same keeper (``dup_cluster`` of kept rows, ``kept_id`` of dropped).

- recall per Jaccard bin: the share of pairs in the bin that were clustered together
  (above the 0.8 threshold this should be ~1; below it, lower is better);
- precision: the share of dropped documents whose kept representative has exact
  J ≥ 0.7 (and ≥ 0.8) with them.

    .venv/bin/python benchmarks/dedup_accuracy.py [--planted 600]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dedup_corpus import revise, sample_documents  # noqa: E402

from pipelines.config import config_from_dict  # noqa: E402
from pipelines.run import run  # noqa: E402
from transforms.dedup.shingles import ShingleSpec, jaccard, shingle_set  # noqa: E402

LEVELS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
BINS = [(0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0001)]
SPEC = ShingleSpec()


def plant(base: str, target: float, seed: int, vocabulary: list[str]) -> tuple[str, float]:
    """A revision of ``base`` whose exact Jaccard with it is closest to ``target``."""
    base_set = shingle_set(base, SPEC)
    lo, hi, best = 0.0, 0.6, (None, -1.0)
    for _ in range(12):
        mid = (lo + hi) / 2
        text = revise(base, mid, random.Random(seed), vocabulary)
        j = jaccard(base_set, shingle_set(text, SPEC))
        if best[0] is None or abs(j - target) < abs(best[1] - target):
            best = (text, j)
        lo, hi = (mid, hi) if j > target else (lo, mid)
    return best


def all_pairs_jaccard(texts: list[str], min_j: float = 0.5) -> dict[tuple[int, int], float]:
    """Exact Jaccard ≥ ``min_j`` for every pair i < j, by brute force."""
    sets = [shingle_set(t, SPEC) for t in texts]
    vocab, cols = np.unique(np.concatenate(sets), return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    x = sp.csr_matrix((np.ones(len(cols), np.int32), (rows, cols)), shape=(len(sets), len(vocab)))
    inter = (x @ x.T).tocoo()
    sizes = np.array([len(s) for s in sets])
    out = {}
    for i, j, c in zip(inter.row, inter.col, inter.data):
        if i < j:
            jac = c / (sizes[i] + sizes[j] - c)
            if jac >= min_j:
                out[(int(i), int(j))] = float(jac)
    return out


def run_stage(texts: list[str], verify: str, tmp: str) -> dict[int, str]:
    """Run minhash_dedup; return doc index → keeper id."""
    path = os.path.join(tmp, "in.jsonl")
    with open(path, "w") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": f"d{i:06d}", "text": t}) + "\n")
    out = os.path.join(tmp, f"out-{verify}")
    raw = {
        "input": {"paths": [path]},
        "output": {"dir": out},
        "stages": [{"minhash_dedup": {"verify": verify}}],
    }
    manifest = run(config_from_dict(raw, tmp), [], log=lambda *_: None)
    keeper = {int(r["id"][1:]): r["dup_cluster"] for r in pq.read_table(os.path.join(out, "data")).to_pylist()}
    for r in pq.read_table(os.path.join(out, "rejected")).to_pylist():
        keeper[int(r["id"][1:])] = r["kept_id"]
    return keeper, manifest["stage_stats"]["minhash_dedup"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--planted", type=int, default=600)
    args = parser.parse_args()
    texts = sample_documents()
    vocabulary = [w for t in texts[:300] for w in t.split()]
    rng = random.Random(0)
    bases = rng.sample([i for i, t in enumerate(texts) if len(t.split()) >= 80], args.planted)
    planted = []
    for k, i in enumerate(bases):
        text, j = plant(texts[i], LEVELS[k % len(LEVELS)], k, vocabulary)
        planted.append(j)
        texts.append(text)
    print(
        f"corpus: {len(texts) - args.planted:,} sample documents + {args.planted} planted revisions; "
        f"planted exact J: min {min(planted):.2f}, median {np.median(planted):.2f}, max {max(planted):.2f}"
    )
    truth = all_pairs_jaccard(texts)
    print(f"ground truth: {len(texts) * (len(texts) - 1) // 2:,} pairs by brute force, {len(truth):,} with J >= 0.5")
    header = "verify     " + "".join(f" rec[{lo:.1f},{min(hi, 1):.1f})" for lo, hi in BINS)
    print(header + "  rec J>=0.8   dropped  prec(J>=0.7)  prec(J>=0.8)  candidates  rejected")
    digests = []
    with tempfile.TemporaryDirectory() as tmp:
        for verify in ("none", "signature", "exact"):
            keeper, stats = run_stage(texts, verify, tmp)
            together = {pair: keeper[pair[0]] == keeper[pair[1]] for pair in truth}
            cells = []
            for lo, hi in BINS:
                pairs = [p for p, j in truth.items() if lo <= j < hi]
                cells.append(f"{sum(together[p] for p in pairs) / len(pairs):.3f} ({len(pairs)})".rjust(16))
            high = [p for p, j in truth.items() if j >= 0.8]
            recall_high = sum(together[p] for p in high) / len(high)
            index = {f"d{i:06d}": i for i in range(len(texts))}
            dropped = [(i, index[k]) for i, k in keeper.items() if index[k] != i]
            exact = [truth.get((min(a, b), max(a, b)), 0.0) for a, b in dropped]
            p7 = sum(j >= 0.7 for j in exact) / max(1, len(exact))
            p8 = sum(j >= 0.8 for j in exact) / max(1, len(exact))
            kept_ids = sorted(f"d{i:06d}" for i, k in keeper.items() if index[k] == i)
            digests.append(f"{verify:<11}{len(kept_ids):,} kept, sha256 of the sorted kept ids "
                           f"{hashlib.sha256(chr(10).join(kept_ids).encode()).hexdigest()}")
            print(
                f"{verify:<11}" + "".join(cells) + f"  {recall_high:9.3f}  {len(dropped):8,}  {p7:12.3f}  {p8:12.3f}"
                f"  {stats['candidate_edges']:10,}  {stats.get('rejected_edges', 0):8,}"
            )
    print("\n".join(digests))


if __name__ == "__main__":
    main()
