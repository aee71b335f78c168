"""Signature throughput, docs per CPU-second, end to end (normalization + word 5-gram
shingling + 112 permutations), on the same real documents, side by side in one run:

- ours: ``hash_shingles_batch`` + ``signatures`` in batches of 512, as the stage's DoFn;
- datasketch ``MinHash`` per document (``update_batch``) and its bulk API
  (``MinHash.bulk``), sha1 (its default) and a 32-bit xxhash;
- datatrove's ``MinhashDedupSignature`` step (its ``run`` over Documents, writing its
  signature files to a temporary folder, spaCy word tokenizer for English; its hash
  function gets an ``encode`` because xxhash 4 no longer takes str);
- rensa's ``RMinHash`` per document and bulk (``digest_matrix_from_token_sets``), if installed.

The Python tools get shingles the same way (``ShingleSpec.strings``: datatrove's
normalization, whitespace words, " "-joined 5-grams); datatrove does its own.
CPU seconds are ``time.process_time`` (all threads of this process); the machine is
shared, so wall time would measure the neighbours. Fast tools are repeated until
they used ≥ 2 CPU-s; numba compilation is done before timing.

    .venv/bin/python benchmarks/dedup_signatures.py [--docs N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import xxhash
from datasketch import MinHash

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dedup_corpus import sample_documents  # noqa: E402

from transforms.dedup.minhash_kernels import permutations, signatures  # noqa: E402
from transforms.dedup.shingles import ShingleSpec, hash_shingles_batch  # noqa: E402

NUM_PERM, SEED = 112, 1
SPEC = ShingleSpec()


def ours(texts):
    a, b = permutations(NUM_PERM, SEED)
    for i in range(0, len(texts), 512):
        hashes, offsets = hash_shingles_batch(texts[i : i + 512], SPEC)
        signatures(hashes, offsets, a, b)


def _shingle_bytes(texts):
    return [[s.encode("utf-8") for s in SPEC.strings(t)] for t in texts]


def datasketch_each(texts):
    for shingles in _shingle_bytes(texts):
        MinHash(num_perm=NUM_PERM, seed=SEED).update_batch(shingles)


def datasketch_bulk(texts):
    MinHash.bulk(_shingle_bytes(texts), num_perm=NUM_PERM, seed=SEED)


def datasketch_bulk_xxh32(texts):
    MinHash.bulk(_shingle_bytes(texts), num_perm=NUM_PERM, seed=SEED, hashfunc=xxhash.xxh32_intdigest)


def datatrove(texts):
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    with tempfile.TemporaryDirectory() as tmp:
        step = MinhashDedupSignature(tmp, MinhashConfig())
        # datatrove 0.10.1 passes str to xxhash, which xxhash >= 4 rejects ("Strings must be
        # encoded before hashing"): encode first, as older xxhash did internally
        step._hash_func = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8"))
        step.run((Document(text=t, id=str(i)) for i, t in enumerate(texts)), rank=0)


def rensa_each(texts):
    from rensa import RMinHash

    for t in texts:
        m = RMinHash(num_perm=NUM_PERM, seed=SEED)
        m.update(SPEC.strings(t))
        m.digest()


def rensa_bulk(texts):
    from rensa import RMinHash

    RMinHash.digest_matrix_from_token_sets([SPEC.strings(t) for t in texts], num_perm=NUM_PERM, seed=SEED)


def measure(fn, texts, min_cpu: float) -> float:
    """Docs per CPU-second over whole passes until ``min_cpu`` seconds were used."""
    docs, start = 0, time.process_time()
    while True:
        fn(texts)
        docs += len(texts)
        used = time.process_time() - start
        if used >= min_cpu:
            return docs / used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=0, help="first N sample documents (0: all)")
    parser.add_argument("--min-cpu", type=float, default=2.0)
    args = parser.parse_args()
    texts = sample_documents()
    texts = texts[: args.docs] if args.docs else texts
    words = sum(len(t.split()) for t in texts)
    print(
        f"{len(texts):,} real documents (bundled sample), mean {np.mean([len(t.encode()) for t in texts]):,.0f} bytes, "
        f"{words / len(texts):,.0f} words; {NUM_PERM} permutations, word 5-grams"
    )
    ours(texts[:10])  # numba compile (or load from NUMBA_CACHE_DIR) outside the timing
    tools = [
        ("ours (numba, batch 512)", ours),
        ("datasketch MinHash.update_batch, sha1", datasketch_each),
        ("datasketch MinHash.bulk, sha1", datasketch_bulk),
        ("datasketch MinHash.bulk, xxh32", datasketch_bulk_xxh32),
        ("datatrove MinhashDedupSignature", datatrove),
    ]
    try:
        import rensa  # noqa: F401

        tools += [("rensa RMinHash per doc", rensa_each), ("rensa digest_matrix_from_token_sets", rensa_bulk)]
    except ImportError:
        print("rensa: not installed, skipped")
    mean_mb = sum(len(t.encode()) for t in texts) / len(texts) / 1e6
    results = []
    for name, fn in tools:
        rate = measure(fn, texts, args.min_cpu)
        results.append((name, rate))
        print(f"  {name:<40} {rate:>10,.0f} docs/CPU-s  {rate * mean_mb:6.1f} MB/CPU-s")
    best_other = max(r for n, r in results[1:])
    print(f"ours / fastest other: {results[0][1] / best_other:.1f}x")


if __name__ == "__main__":
    main()
