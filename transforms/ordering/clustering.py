"""Documents embedded and clustered by spherical k-means: one implementation for ``icp_order`` and ``cluster_select``.

    docs → embed (a DocProcessor for the stage runner: ``_embedding``, L2-normalized float32 bytes;
           a document an earlier stage embedded with the same model and text keeps its vector)
         → bounded sample (smallest seeded id hashes) → spherical k-means centroids (faiss)
           [one worker, ≤ kmeans_sample vectors]
         → each document to its nearest centroid (the centroids as a side input)

No worker holds more than the k-means sample of embeddings; the assignment
streams past the side input.
"""
from __future__ import annotations

from typing import Callable, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.core.outcomes import DocProcessor, Kept, Outcome, Quarantined
from transforms.core.text_hash import content_id, stable_bucket
from transforms.ordering.embeddings import EmbeddingConfig, SentenceTransformerEmbedder
from transforms.outputs.token_counter import TokenCounter

EMBEDDING = "_embedding"
EMBEDDED_FOR = "_embedded_for"  # (model, truncation, text hash) the vector was computed for
TOKENS = "_tokens"


def vector_of(doc: dict) -> np.ndarray:
    return np.frombuffer(doc[EMBEDDING], dtype=np.float32)


class EmbedDocuments(DocProcessor):
    """Adds ``_embedding`` (and ``_tokens`` with ``count_tokens``); non-finite vectors are quarantined.

    A document that already carries an embedding for the same model, truncation
    and text (``cluster_select`` before ``icp_order``) is not embedded again.
    """

    def __init__(self, cfg: EmbeddingConfig, model_path: str | None, count_tokens: bool = False,
                 tokenizer_path: str | None = None):
        self.cfg = cfg
        self.model_path = model_path
        self.count_tokens = count_tokens
        self.tokenizer_path = tokenizer_path
        self.batch_size = cfg.batch_size

    def setup(self) -> None:
        self._computed = Metrics.counter("corpusmill.embeddings", "computed")
        self._reused = Metrics.counter("corpusmill.embeddings", "reused")
        self.embedder = SentenceTransformerEmbedder.from_config(self.cfg, self.model_path)
        self._model_key = f"{self.embedder.model_path}|{self.cfg.max_seq_length}"
        if self.count_tokens:
            self.tokens = TokenCounter(self.tokenizer_path or self.embedder.model_path)

    def _key(self, doc: dict) -> str:
        return f"{self._model_key}|{content_id(doc['text'])}"

    def _embedded_already(self, doc: dict) -> bool:
        return EMBEDDED_FOR in doc and EMBEDDING in doc and doc[EMBEDDED_FOR] == self._key(doc)

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        todo = [i for i, d in enumerate(docs) if not self._embedded_already(d)]
        vectors = dict(zip(todo, self.embedder.embed([docs[i]["text"] for i in todo]))) if todo else {}
        self._computed.inc(len(todo))
        self._reused.inc(len(docs) - len(todo))
        lengths = self.tokens.count([d["text"] for d in docs]) if self.count_tokens else None
        outcomes: list[Outcome] = []
        for i, doc in enumerate(docs):
            if i in vectors:
                if not np.isfinite(vectors[i]).all():
                    outcomes.append(Quarantined(doc, "EmbeddingError: non-finite embedding"))
                    continue
                doc[EMBEDDING] = vectors[i].tobytes()
                doc[EMBEDDED_FOR] = self._key(doc)
            if lengths is not None:
                doc[TOKENS] = lengths[i]
            outcomes.append(Kept(doc))
        return outcomes


def sample_key(doc: dict, seed: int) -> tuple:
    """Bottom-k by a seeded hash of the id: a uniform sample that is the same on every runner."""
    return (stable_bucket(f"{seed}:{doc['id']}", 1 << 62), doc["id"], doc[EMBEDDING])


def sample_vectors(sample: list[tuple]) -> np.ndarray:
    return np.stack([np.frombuffer(s[2], dtype=np.float32) for s in sorted(sample)])


def kmeans_centroids(vectors: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    """Spherical k-means (faiss), ``k`` clamped to the sample by the caller; one cluster is the mean."""
    if k == 1:
        return vectors.mean(axis=0, keepdims=True).astype(np.float32)
    import faiss

    kmeans = faiss.Kmeans(vectors.shape[1], k, niter=iterations, seed=seed, spherical=True)
    kmeans.cp.min_points_per_centroid = 1
    kmeans.train(np.ascontiguousarray(vectors, dtype=np.float32))
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def nearest_centroid(doc: dict, model: dict) -> int:
    return int(np.argmax(model["centroids"] @ vector_of(doc)))


def _train(sample: list[tuple], docs: int, clusters: Callable[[int, int], int], iterations: int, seed: int,
           describe: Callable[[np.ndarray, int], dict] | None) -> dict | None:
    if not sample:
        return None
    vectors = sample_vectors(sample)
    model = {"centroids": kmeans_centroids(vectors, clusters(docs, len(vectors)), iterations, seed),
             "sample": len(vectors)}
    if describe is not None:
        model.update(describe(vectors, seed))
    return model


class KMeansOverSample(beam.PTransform):
    """Embedded documents → the k-means model (a one-element PCollection, ``None`` without documents).

    ``clusters(docs, sample_size)`` gives k; ``describe(sample vectors, seed)``
    may add figures about the sample to the model (``icp_order``'s random-order
    baseline).
    """

    def __init__(self, clusters: Callable[[int, int], int], kmeans_sample: int, iterations: int, seed: int,
                 describe: Callable[[np.ndarray, int], dict] | None = None):
        super().__init__()
        self._clusters, self._sample, self._iterations = clusters, kmeans_sample, iterations
        self._seed, self._describe = seed, describe

    def expand(self, embedded):
        seed = self._seed
        count = embedded | "Count" >> beam.combiners.Count.Globally()
        return (
            embedded
            | "SampleKey" >> beam.Map(sample_key, seed)
            | "Sample" >> beam.combiners.Top.Smallest(self._sample)
            | "KMeans" >> beam.Map(_train, beam.pvalue.AsSingleton(count), self._clusters, self._iterations, seed,
                                   self._describe)
        )
