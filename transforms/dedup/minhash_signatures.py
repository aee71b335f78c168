"""``Signatures``: documents → MinHash signatures, the first step of ``minhash_dedup``.

Documents are signed in batches because the shingle hashing and the signature
kernel (``transforms.dedup.shingles``, ``transforms.dedup.minhash_kernels``) are numba loops over a
whole batch's text buffer; per document they would pay the call overhead each time.
"""
from __future__ import annotations

from typing import Literal

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.dedup.minhash_kernels import datasketch_signatures, permutations, signatures
from transforms.dedup.shingles import ShingleSpec, hash_shingles_batch


class _SignatureFn(beam.DoFn):
    """Batch of docs → (id, signature bytes)."""

    def __init__(self, spec: ShingleSpec, num_perm: int, seed: int, signature: str):
        self._spec = spec
        self._num_perm = num_perm
        self._seed = seed
        self._signature = signature

    def setup(self):
        self._a, self._b = permutations(self._num_perm, self._seed)
        self._empty = Metrics.counter("corpusmill.minhash", "docs_without_shingles")

    def process(self, docs):
        texts = [d["text"] for d in docs]
        hashes, offsets = hash_shingles_batch(texts, self._spec)
        if self._signature == "native":
            sigs = signatures(hashes, offsets, self._a, self._b)
        else:
            sets = [[s.encode("utf-8") for s in self._spec.strings(t)] for t in texts]
            sigs = datasketch_signatures(sets, self._num_perm, self._seed).astype(np.uint64)
        for i, doc in enumerate(docs):
            if offsets[i + 1] == offsets[i]:
                self._empty.inc()
                yield beam.pvalue.TaggedOutput("empty", 1)
                continue
            yield doc["id"], sigs[i].tobytes()


class Signatures(beam.PTransform):
    """Docs → ``signatures`` (id, uint64 signature bytes) and ``empty`` (one element per
    document without a single shingle: it gets no signature, so it is never a duplicate)."""

    def __init__(self, spec: ShingleSpec, num_perm: int, seed: int,
                 signature: Literal["native", "datasketch"] = "native", batch_size: int = 512):
        super().__init__()
        self._fn = _SignatureFn(spec, num_perm, seed, signature)
        self._batch_size = batch_size

    def expand(self, docs):
        out = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "Sign" >> beam.ParDo(self._fn).with_outputs("empty", main="signatures")
        )
        return {"signatures": out.signatures, "empty": out.empty}
