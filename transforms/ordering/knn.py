"""k nearest neighbours by cosine (inner product of L2-normalized rows) with faiss.

Exact ``IndexFlatIP`` up to ``exact_max_docs`` rows; above that an inverted-file
index (``IndexIVFFlat``, or ``IndexIVFPQ`` when ``pq_subquantizers`` is set)
trained on the rows themselves, searched with ``nprobe`` lists. The paper used
k = 50. A row's own entry is removed from its list; missing neighbours (IVF can
return fewer than k) are ``-1`` with similarity ``-inf``.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

MISSING = -1


class KnnConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(50, gt=0, description="neighbours per document (paper: 50); capped at n-1")
    exact_max_docs: int = Field(50_000, gt=0, description="exact flat index up to this many documents, IVF above")
    ivf_lists: int | None = Field(None, gt=0, description="IVF lists; default 4*sqrt(n)")
    nprobe: int = Field(16, gt=0, description="IVF lists searched per query")
    pq_subquantizers: int | None = Field(None, gt=0, description="IVF-PQ with this many 8-bit sub-quantizers (must divide dim)")


def build_index(vectors: np.ndarray, cfg: KnnConfig):
    import faiss

    n, dim = vectors.shape
    if n <= cfg.exact_max_docs:
        index = faiss.IndexFlatIP(dim)
    else:
        lists = min(cfg.ivf_lists or int(4 * math.sqrt(n)), n)
        quantizer = faiss.IndexFlatIP(dim)
        if cfg.pq_subquantizers:
            index = faiss.IndexIVFPQ(quantizer, dim, lists, cfg.pq_subquantizers, 8, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = cfg.nprobe
    index.add(vectors)
    return index


def nearest_neighbours(vectors: np.ndarray, cfg: KnnConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(neighbours, similarities)``, each ``(n, min(k, n-1))``, best first, self excluded."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    k = min(cfg.k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
    sims, idx = build_index(vectors, cfg).search(vectors, k + 1)
    return drop_self(idx, sims)


def drop_self(idx: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own id (or, if search did not return it, the row's last entry)."""
    n, width = idx.shape
    is_self = idx == np.arange(n)[:, None]
    first_self = np.where(is_self.any(axis=1), is_self.argmax(axis=1), width - 1)
    keep = np.ones_like(is_self)
    keep[np.arange(n), first_self] = False
    idx = idx[keep].reshape(n, width - 1)
    sims = sims[keep].reshape(n, width - 1).astype(np.float32)
    sims[idx == MISSING] = -np.inf
    return idx.astype(np.int64), sims
