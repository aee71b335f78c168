"""The ``icp_order`` stage: In-Context Pretraining order, sharded by k-means cluster on Beam.

    docs → embed + count tokens (the stage runner, step ``LABEL.embed``; failures quarantined; all the
           embedding and k-means steps are transforms.ordering.clustering, shared with cluster_select)
         → bounded sample (smallest id hashes) → spherical k-means centroids (faiss)  [one worker, ≤ kmeans_sample rows]
         → each doc to its nearest centroid (side input) → clusters over max_cluster_docs split in parts
         → GroupByKey per (cluster, part) → kNN + semantic near-dup drop + Algorithm 1 + contexts (transforms.ordering.icp_walk)
         → group summaries (one small record per group) → groups chained by Algorithm 1 over their centroids
         → rank and context offsets (side input) → ``_rank``, ``context_id``, ``position``

No worker holds more embeddings than one group or the k-means sample. The
sink writes rows in ``_rank`` order (``transforms.io.parquet_sink``), so shards
hold the reading order. Contexts are cut per group: a group's last context may
be short (one per ~cluster_docs documents); contexts do not straddle groups.
Near-duplicates are only found inside a group (true near-duplicates share a
cluster); the cost of sharding is in the README (benchmarks/icp_quality.py).
"""
from __future__ import annotations

import functools
import math

import apache_beam as beam
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from transforms.core.outcomes import DROPPED, KEPT, Dropped, add_provenance, mark_rejected
from transforms.core.runner import ApplyDocStage, StageCounters, StageOutputs
from transforms.core.text_hash import stable_bucket
from transforms.io.parquet_sink import RANK
from transforms.io.unique_ids import doc_order_key
from transforms.ordering.clustering import (
    EMBEDDED_FOR,
    EMBEDDING,
    TOKENS,
    EmbedDocuments,
    KMeansOverSample,
    nearest_centroid,
    vector_of,
)
from transforms.ordering.embeddings import EmbeddingConfig
from transforms.ordering.icp_walk import chain_order, order_group, random_order_cosine
from transforms.ordering.knn import KnnConfig

REASON = "semantic_duplicate"
_LOCAL = "_icp_local"  # (path position, context, last context) inside the group
_SUMMARY = "summary"


class IcpOrderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    tokenizer: str | None = Field(None, description="tokenizer.json or HF model dir for context lengths; default: the embedding model's")
    context_tokens: int = Field(2048, gt=0, description="tokens per training context")
    duplicate_threshold: float | None = Field(0.95, gt=0, le=1, description="drop near-duplicates at cosine ≥ this; null: keep all")
    knn: KnnConfig = Field(default_factory=KnnConfig)
    clusters: int | None = Field(None, gt=0, description="k-means clusters; default ceil(docs / cluster_docs)")
    cluster_docs: int = Field(20_000, gt=0, description="target documents per cluster when clusters is null")
    max_cluster_docs: int = Field(100_000, gt=1, description="clusters above this are split into parts")
    kmeans_sample: int = Field(100_000, gt=0, description="embeddings held on one worker to train centroids")
    kmeans_iterations: int = Field(20, gt=0)


def cluster_count(docs: int, sample: int, cfg: IcpOrderConfig) -> int:
    wanted = cfg.clusters or math.ceil(docs / cfg.cluster_docs)
    return max(1, min(wanted, sample))


def _random_order_baseline(vectors: np.ndarray, seed: int) -> dict:
    return {"random_order_cosine": random_order_cosine(vectors, seed)}


def without_internals(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in (EMBEDDING, EMBEDDED_FOR, TOKENS, _LOCAL)}


def group_key(cluster: int, doc: dict, sizes: dict, max_docs: int) -> tuple[int, int]:
    """Clusters over the cap are split by a stable hash of the id into ceil(size / cap) parts."""
    parts = math.ceil(sizes[cluster] / max_docs)
    return (cluster, stable_bucket(doc["id"], parts) if parts > 1 else 0)


class _OrderGroupFn(beam.DoFn):
    """One group: kept docs keyed by group with their local order, dropped near-duplicates, one summary."""

    def __init__(self, label: str, cfg: IcpOrderConfig):
        self._label = label
        self._cfg = cfg

    def setup(self):
        self._counters = StageCounters(self._label)

    def process(self, keyed):
        key, docs = keyed
        docs = sorted(docs, key=doc_order_key)
        vectors = np.stack([vector_of(d) for d in docs])
        order = order_group(
            vectors,
            np.array([d[TOKENS] for d in docs]),
            self._cfg.knn,
            self._cfg.duplicate_threshold,
            self._cfg.context_tokens,
        )
        for i in np.flatnonzero(order.keeper != np.arange(len(docs))):
            self._counters.drop(REASON)
            dropped = Dropped(without_internals(docs[i]), REASON, kept_id=docs[order.keeper[i]]["id"])
            yield beam.pvalue.TaggedOutput(DROPPED, mark_rejected(dropped, self._label))
        ctx = order.contexts
        for pos, i in enumerate(order.path):
            doc = without_internals(docs[i])
            doc[_LOCAL] = (pos, int(ctx.context[pos]), int(ctx.last_context[pos]), int(ctx.position[pos]))
            yield key, doc
        yield beam.pvalue.TaggedOutput(_SUMMARY, {
            "key": key,
            "docs": len(docs),
            "kept": len(order.path),
            "contexts": ctx.count,
            "centroid": vectors[order.path].mean(axis=0).tolist(),
            "cosine_sum": order.cosine_sum,
            "cosine_pairs": order.cosine_pairs,
            "jumps": max(int(order.jumped.sum()) - 1, 0),
            "spanning": int((ctx.last_context > ctx.context).sum()),
        })


def plan_groups(summaries: list[dict], model: dict | None, knn_k: int) -> dict:
    """Chain the groups; each group's first rank and first context id; the stage's stats."""
    summaries = sorted(summaries, key=lambda s: s["key"])
    offsets: dict[tuple, tuple[int, int]] = {}
    if summaries:
        chain = chain_order(np.array([s["centroid"] for s in summaries], dtype=np.float32), knn_k)
        rank = context = 0
        for g in chain:
            s = summaries[g]
            offsets[s["key"]] = (rank, context)
            rank += s["kept"]
            context += s["contexts"]
    pairs = sum(s["cosine_pairs"] for s in summaries)
    ordered = sum(s["cosine_sum"] for s in summaries) / pairs if pairs else None
    random = model["random_order_cosine"] if model else None
    sizes = sorted(s["docs"] for s in summaries)
    stats = {
        "clusters": len(model["centroids"]) if model else 0,
        "groups": len(summaries),
        "group_sizes": {
            "min": sizes[0], "median": sizes[len(sizes) // 2], "max": sizes[-1], "mean": round(float(np.mean(sizes)), 1)
        } if sizes else {},
        "kmeans_sample": model["sample"] if model else 0,
        "mean_adjacent_cosine": ordered,
        "random_order_cosine": random,
        "adjacent_cosine_vs_random": ordered / random if ordered is not None and random else None,
        "docs_jumped_to": sum(s["jumps"] for s in summaries),
        "contexts": sum(s["contexts"] for s in summaries),
        "docs_spanning_contexts": sum(s["spanning"] for s in summaries),
    }
    return {"offsets": offsets, "stats": sorted(stats.items())}


class _PlaceFn(beam.DoFn):
    """Global ``_rank`` and ``context_id`` from the group's offsets; spanning documents noted in provenance."""

    def __init__(self, label: str):
        self._label = label

    def setup(self):
        self._counters = StageCounters(self._label)

    def process(self, keyed, plan):
        key, doc = keyed
        rank_offset, context_offset = plan["offsets"][key]
        pos, context, last, position = doc.pop(_LOCAL)
        doc[RANK] = rank_offset + pos
        doc["context_id"] = context_offset + context
        doc["position"] = position
        if last > context:
            add_provenance(doc, self._label, "spans_context_boundary",
                           context_ids=[context_offset + context, context_offset + last])
        self._counters.kept.inc()
        yield doc


class IcpOrder(beam.PTransform):
    def __init__(self, label: str, cfg: IcpOrderConfig, model_path: str | None = None,
                 tokenizer_path: str | None = None, seed: int = 0):
        super().__init__(label)
        self._stage_label = label
        self._cfg = cfg
        self._embedder = EmbedDocuments(cfg.embedding, model_path, count_tokens=True, tokenizer_path=tokenizer_path)
        self._seed = seed

    def expand(self, docs):
        label, cfg, seed = self._stage_label, self._cfg, self._seed
        embedded = docs | "Embed" >> ApplyDocStage(f"{label}.embed", self._embedder)
        ok = embedded.kept
        model = beam.pvalue.AsSingleton(ok | "Cluster" >> KMeansOverSample(
            functools.partial(cluster_count, cfg=cfg), cfg.kmeans_sample, cfg.kmeans_iterations, seed,
            describe=_random_order_baseline))
        clustered = ok | "Assign" >> beam.Map(lambda d, m: (nearest_centroid(d, m), d), model)
        sizes = beam.pvalue.AsSingleton(
            clustered
            | "One" >> beam.Map(lambda kv: (kv[0], 1))
            | "ClusterSizes" >> beam.CombinePerKey(sum)
            | "SizeDict" >> beam.combiners.ToDict()
        )
        ordered = (
            clustered
            | "GroupKey" >> beam.Map(lambda kv, s: (group_key(kv[0], kv[1], s, cfg.max_cluster_docs), kv[1]), sizes)
            | "Group" >> beam.GroupByKey()
            | "Order" >> beam.ParDo(_OrderGroupFn(label, cfg)).with_outputs(DROPPED, _SUMMARY, main=KEPT)
        )
        plan = (
            ordered[_SUMMARY]
            | "Summaries" >> beam.combiners.ToList()
            | "Plan" >> beam.Map(plan_groups, model, cfg.knn.k)
        )
        placed = ordered[KEPT] | "Place" >> beam.ParDo(_PlaceFn(label), beam.pvalue.AsSingleton(plan))
        return StageOutputs(
            placed,
            (embedded.dropped, ordered[DROPPED]) | "AllDropped" >> beam.Flatten(),
            embedded.quarantined,
            stats=plan | "Stats" >> beam.FlatMap(lambda p: p["stats"]),
        )
