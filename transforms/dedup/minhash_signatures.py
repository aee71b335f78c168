"""``Signatures``: documents → MinHash signatures and their LSH band keys, the first step of ``minhash_dedup``.

Documents are signed in batches because the shingle hashing, the signature
kernel and the band hashes (``transforms.dedup.shingles``,
``transforms.dedup.minhash_kernels``) are numba loops over a whole batch; per
document they would pay the call overhead each time. The band keys leave this
step directly: the signatures themselves are emitted only when a later step
needs them (``verify: signature``).
"""
from __future__ import annotations

from typing import Any, Iterator, Literal

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from transforms.dedup.lsh_candidates import partition_chunks
from transforms.dedup.minhash_kernels import band_hashes, datasketch_signatures, permutations, signatures
from transforms.dedup.shingles import ShingleSpec, hash_shingles_batch

# Band keys a worker gathers before sending them on (about 12 bytes plus an id reference each).
FLUSH_KEYS = 1 << 21


class _SignatureFn(beam.DoFn):
    """Batches of docs → band key chunks ``(slice, (bands, hashes, ids))`` (``lsh_candidates``), sent when
    ``FLUSH_KEYS`` keys have gathered and at the end of the bundle; (id, signature bytes) tagged
    ``signatures`` when kept."""

    def __init__(self, spec: ShingleSpec, num_perm: int, seed: int, signature: str, bands: int, rows: int,
                 keep_signatures: bool):
        self._spec = spec
        self._num_perm = num_perm
        self._seed = seed
        self._signature = signature
        self._bands = bands
        self._rows = rows
        self._keep_signatures = keep_signatures

    def setup(self):
        self._a, self._b = permutations(self._num_perm, self._seed)
        self._empty = Metrics.counter("corpusmill.minhash", "docs_without_shingles")

    def start_bundle(self):
        self._pending: list[tuple[np.ndarray, list[str]]] = []
        self._pending_keys = 0

    def process(self, docs) -> Iterator[Any]:  # Any: Beam would infer a union with TaggedOutput
        texts = [d["text"] for d in docs]
        hashes, offsets = hash_shingles_batch(texts, self._spec)
        if self._signature == "native":
            sigs = signatures(hashes, offsets, self._a, self._b)
        else:
            sets = [[s.encode("utf-8") for s in self._spec.strings(t)] for t in texts]
            sigs = datasketch_signatures(sets, self._num_perm, self._seed).astype(np.uint64)
        signed = np.diff(offsets) > 0
        for _ in range(int((~signed).sum())):
            self._empty.inc()
            yield beam.pvalue.TaggedOutput("empty", 1)
        ids = [d["id"] for d, ok in zip(docs, signed.tolist()) if ok]
        if not ids:
            return
        sigs = sigs[signed]
        self._pending.append((band_hashes(sigs[:, : self._bands * self._rows], self._bands, self._rows), ids))
        self._pending_keys += len(ids) * self._bands
        if self._keep_signatures:
            for doc_id, sig in zip(ids, sigs):
                yield beam.pvalue.TaggedOutput("signatures", (doc_id, sig.tobytes()))
        if self._pending_keys >= FLUSH_KEYS:
            yield from self._chunks()

    def finish_bundle(self):
        for chunk in self._chunks():
            yield GlobalWindows.windowed_value(chunk)

    def _chunks(self):
        if not self._pending:
            return
        keys = np.concatenate([k for k, _ in self._pending])  # (documents × bands)
        ids = [doc_id for _, batch in self._pending for doc_id in batch for _ in range(self._bands)]
        self._pending, self._pending_keys = [], 0
        bands = np.tile(np.arange(self._bands, dtype=np.uint32), len(keys))
        yield from partition_chunks(bands, keys.ravel(), ids)


class Signatures(beam.PTransform):
    """Docs → ``bands`` (slice, chunk of (band index, band hash, id) keys; ``lsh_candidates``) covering every
    band of every document, ``signatures`` (id, uint64 signature bytes; only with ``keep_signatures``) and
    ``empty`` (one element per document without a single shingle: it gets no signature, so it is never
    a duplicate)."""

    def __init__(self, spec: ShingleSpec, num_perm: int, seed: int, bands: int, rows: int,
                 signature: Literal["native", "datasketch"] = "native", batch_size: int = 512,
                 keep_signatures: bool = False):
        super().__init__()
        self._fn = _SignatureFn(spec, num_perm, seed, signature, bands, rows, keep_signatures)
        self._batch_size = batch_size

    def expand(self, docs):
        out = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "Sign" >> beam.ParDo(self._fn).with_outputs("empty", "signatures", main="bands")
        )
        return {"bands": out.bands, "signatures": out.signatures, "empty": out.empty}
