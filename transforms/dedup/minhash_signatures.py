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

from transforms.core.keyed_runs import KeyedRunWriter
from transforms.dedup.lsh_candidates import band_rows
from transforms.dedup.minhash_kernels import band_hashes, datasketch_signatures, permutations, signatures
from transforms.dedup.shingles import ShingleSpec, hash_shingles_batch


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
    """Batches of docs → band key rows written to runs sorted by band hash (``lsh_candidates``); outputs
    the runs' descriptions."""

    def __init__(self, signer: Signer, bands: int, rows: int, runs_dir: str):
        self._signer = signer
        self._bands = bands
        self._rows = rows
        self._runs_dir = runs_dir

    def setup(self):
        self._empty = Metrics.counter("corpusmill.minhash", "docs_without_shingles")

    def start_bundle(self):
        self._writer = KeyedRunWriter(self._runs_dir, "bands")

    def process(self, docs) -> Iterator[Any]:  # Any: Beam would infer a union with TaggedOutput
        sigs, signed = self._signer([d["text"] for d in docs])
        for _ in range(int((~signed).sum())):
            self._empty.inc()
            yield beam.pvalue.TaggedOutput("empty", 1)
        ids = [d["id"] for d, ok in zip(docs, signed.tolist()) if ok]
        if not ids:
            return
        hashes = band_hashes(sigs[signed][:, : self._bands * self._rows], self._bands, self._rows)
        written = self._writer.add(band_rows(hashes, ids))
        if written:
            yield written

    def finish_bundle(self):
        written = self._writer.flush()
        if written:
            yield GlobalWindows.windowed_value(written)


class Signatures(beam.PTransform):
    """Docs → ``bands`` (descriptions of runs of (band hash, band index, id) rows under ``runs_dir``,
    ``lsh_candidates``) covering every band of every document, and ``empty`` (one element per document
    without a single shingle: it gets no signature, so it is never a duplicate)."""

    def __init__(self, signer: Signer, bands: int, rows: int, runs_dir: str, batch_size: int = 512):
        super().__init__()
        self._fn = _SignatureFn(signer, bands, rows, runs_dir)
        self._batch_size = batch_size

    def expand(self, docs):
        out = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "Sign" >> beam.ParDo(self._fn).with_outputs("empty", main="bands")
        )
        return {"bands": out.bands, "empty": out.empty}
