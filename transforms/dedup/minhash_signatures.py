"""``Signatures``: documents → MinHash signatures and their LSH band keys, the first step of ``minhash_dedup``.

Documents are signed in batches because the shingle hashing, the signature
kernel and the band hashes (``transforms.dedup.shingles``,
``transforms.dedup.minhash_kernels``) are numba loops over a whole batch; per
document they would pay the call overhead each time. Only the band keys leave
this step: ``verify: signature`` re-signs the few candidate documents where
they are read back (``candidate_docs``), which costs less than carrying every
document's signature to the join.
"""
from __future__ import annotations

from typing import Any, Iterator, Literal

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from transforms.core.key_slices import string_array
from transforms.dedup.lsh_candidates import partition_chunks
from transforms.dedup.minhash_kernels import band_hashes, datasketch_signatures, permutations, signatures
from transforms.dedup.shingles import ShingleSpec, hash_shingles_batch

# Band keys a worker gathers before sending them on (about 20 bytes each, with the id's index).
FLUSH_KEYS = 1 << 21


class Signer:
    """Texts → MinHash signatures (uint64, one row per text) and which texts had a shingle to sign.

    Picklable; the permutations are drawn on first use in each worker."""

    def __init__(self, spec: ShingleSpec, num_perm: int, seed: int, signature: Literal["native", "datasketch"]):
        self._spec = spec
        self._num_perm = num_perm
        self._seed = seed
        self._signature = signature
        self._permutations = None

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        hashes, offsets = hash_shingles_batch(texts, self._spec)
        if self._signature == "native":
            if self._permutations is None:
                self._permutations = permutations(self._num_perm, self._seed)
            sigs = signatures(hashes, offsets, *self._permutations)
        else:
            sets = [[s.encode("utf-8") for s in self._spec.strings(t)] for t in texts]
            sigs = datasketch_signatures(sets, self._num_perm, self._seed).astype(np.uint64)
        return sigs, np.diff(offsets) > 0

    def payloads(self, texts: list[str]) -> list[bytes]:
        """Each text's signature as bytes: the ``verify: signature`` payload (``candidate_docs``)."""
        return [sig.tobytes() for sig in self(texts)[0]]


class _SignatureFn(beam.DoFn):
    """Batches of docs → band key chunks ``(slice, chunk)`` (``lsh_candidates``), sent when ``FLUSH_KEYS``
    keys have gathered and at the end of the bundle."""

    def __init__(self, signer: Signer, bands: int, rows: int):
        self._signer = signer
        self._bands = bands
        self._rows = rows

    def setup(self):
        self._empty = Metrics.counter("corpusmill.minhash", "docs_without_shingles")

    def start_bundle(self):
        self._pending: list[tuple[np.ndarray, list[str]]] = []
        self._pending_keys = 0

    def process(self, docs) -> Iterator[Any]:  # Any: Beam would infer a union with TaggedOutput
        sigs, signed = self._signer([d["text"] for d in docs])
        for _ in range(int((~signed).sum())):
            self._empty.inc()
            yield beam.pvalue.TaggedOutput("empty", 1)
        ids = [d["id"] for d, ok in zip(docs, signed.tolist()) if ok]
        if not ids:
            return
        self._pending.append((band_hashes(sigs[signed][:, : self._bands * self._rows], self._bands, self._rows), ids))
        self._pending_keys += len(ids) * self._bands
        if self._pending_keys >= FLUSH_KEYS:
            yield from self._chunks()

    def finish_bundle(self):
        for chunk in self._chunks():
            yield GlobalWindows.windowed_value(chunk)

    def _chunks(self):
        if not self._pending:
            return
        keys = np.concatenate([k for k, _ in self._pending])  # (documents × bands)
        ids = string_array(doc_id for _, batch in self._pending for doc_id in batch)
        self._pending, self._pending_keys = [], 0
        bands = np.tile(np.arange(self._bands, dtype=np.uint32), len(keys))
        id_rows = np.repeat(np.arange(len(keys)), self._bands)
        yield from partition_chunks(bands, keys.ravel(), ids, id_rows)


class Signatures(beam.PTransform):
    """Docs → ``bands`` (slice, chunk of (band index, band hash, id) keys; ``lsh_candidates``) covering every
    band of every document, and ``empty`` (one element per document without a single shingle: it gets no
    signature, so it is never a duplicate)."""

    def __init__(self, signer: Signer, bands: int, rows: int, batch_size: int = 512):
        super().__init__()
        self._fn = _SignatureFn(signer, bands, rows)
        self._batch_size = batch_size

    def expand(self, docs):
        out = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "Sign" >> beam.ParDo(self._fn).with_outputs("empty", main="bands")
        )
        return {"bands": out.bands, "empty": out.empty}
