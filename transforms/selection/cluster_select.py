"""The ``cluster_select`` stage: MiniPile's fixed-size, diverse selection over k-means clusters.

    docs → embed (transforms.ordering.clustering, step ``LABEL.embed``; failures quarantined)
         → k-means on a bounded sample → ``cluster_id`` = nearest centroid (side input)
         → per-cluster facts (size, languages, quality) combined in Beam → quotas and exclusions (one small step)
         → per cluster, the ``quota`` smallest seeded id hashes (a combiner holding ≤ quota keys) → cutoffs
         → each document kept iff its cluster is not excluded and its hash is within the cutoff
    catalogue: nearest documents to each centroid (top 5 per cluster) and distinctive terms from a
    bounded sample per cluster, into the stage's stats (the manifest) for ``corpusmill clusters OUT``.

Only ids, hashes, counts and the bounded samples are shuffled; documents stream
past the side inputs. The choice depends on the seed and the ids, never on the
number of workers. Kept documents keep their embedding (an internal key, never
written), so an ``icp_order`` later in the run does not embed them again.
"""
from __future__ import annotations

import functools
from collections import Counter
from typing import Literal

import apache_beam as beam
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome
from transforms.core.runner import ApplyDocStage, StageOutputs
from transforms.core.text_hash import stable_bucket
from transforms.ordering.clustering import EMBEDDED_FOR, EMBEDDING, EmbedDocuments, KMeansOverSample, vector_of
from transforms.ordering.embeddings import EmbeddingConfig
from transforms.selection.catalogue import (
    NEAREST,
    NEAREST_CHARS,
    TERM_DOCS,
    catalogue_entries,
    centroid_map,
    distinctive_terms,
    document_terms,
)
from transforms.selection.quotas import ClusterFacts, selection_plan

CLUSTER = "cluster_id"
_KEY = "_select_key"


class ExcludeIf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang_not_in: list[str] | None = Field(None, description="exclude a cluster whose most common lang is not listed")
    mean_quality_below: float | None = Field(None, description="exclude a cluster whose mean quality_score is lower")


class ClusterSelectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    clusters: int = Field(220, gt=0, description="k (MiniPile: 220)")
    exclude_clusters: list[int] = Field(default_factory=list, description="cluster ids a person dropped")
    exclude_if: ExcludeIf = Field(default_factory=ExcludeIf)
    target_docs: int | None = Field(None, gt=0)
    target_fraction: float | None = Field(None, gt=0, le=1, description="of the documents the stage embeds")
    per_cluster: Literal["equal", "proportional"] = "equal"
    kmeans_sample: int = Field(100_000, gt=0, description="embeddings held on one worker to train centroids")
    kmeans_iterations: int = Field(20, gt=0)

    @model_validator(mode="after")
    def _valid(self):
        if (self.target_docs is None) == (self.target_fraction is None):
            raise ValueError("give exactly one of target_docs and target_fraction")
        impossible = sorted(c for c in self.exclude_clusters if not 0 <= c < self.clusters)
        if impossible:
            raise ValueError(f"exclude_clusters {impossible}: cluster ids run from 0 to {self.clusters - 1}")
        return self


def _k(docs: int, sample: int, clusters: int) -> int:
    return max(1, min(clusters, sample))


def _assign(doc: dict, model: dict, seed: int) -> dict:
    doc = dict(doc)
    doc[CLUSTER] = int(np.argmax(model["centroids"] @ vector_of(doc)))
    doc[_KEY] = stable_bucket(f"{seed}:select:{doc['id']}", 1 << 62)
    return doc


class _FactsFn(beam.CombineFn):
    """Per cluster: documents, ``lang`` counts, sum and count of ``quality_score``."""

    def create_accumulator(self):
        return ClusterFacts()

    def add_input(self, acc, doc):
        acc.docs += 1
        lang = doc.get("lang") or "(none)"
        acc.langs[lang] = acc.langs.get(lang, 0) + 1
        if doc.get("quality_score") is not None:
            acc.quality_sum += float(doc["quality_score"])
            acc.quality_docs += 1
        return acc

    def merge_accumulators(self, accs):
        out = ClusterFacts()
        for a in accs:
            out.docs += a.docs
            out.quality_sum += a.quality_sum
            out.quality_docs += a.quality_docs
            for lang, n in a.langs.items():
                out.langs[lang] = out.langs.get(lang, 0) + n
        return out

    def extract_output(self, acc):
        return acc


class _SmallestWithinQuotaFn(beam.CombineFn):
    """``(quota, key, id)`` of one cluster → the largest of its ``quota`` smallest ``(key, id)`` (None for 0).

    Holds at most ``2 * quota`` keys: what a worker keeps per cluster is bounded by the quota.
    """

    def create_accumulator(self):
        return (0, [])

    def add_input(self, acc, item):
        quota, kept = acc
        quota = max(quota, item[0])
        kept.append(item[1:])
        if len(kept) > 2 * quota:
            kept = sorted(kept)[:quota]
        return (quota, kept)

    def merge_accumulators(self, accs):
        accs = list(accs)
        quota = max(a[0] for a in accs)
        return (quota, sorted(k for a in accs for k in a[1])[:quota])

    def extract_output(self, acc):
        quota, kept = acc
        kept = sorted(kept)[:quota]
        return kept[-1] if kept else None


class SelectByQuota(DocProcessor):
    """Kept within its cluster's cutoff; else ``cluster_excluded:<k>`` or ``not_selected``."""

    def process(self, doc: dict, plan: dict, cutoffs: dict) -> Outcome:
        cluster = doc[CLUSTER]
        key = (doc.pop(_KEY), doc["id"])
        if cluster in plan["excluded"]:
            return Dropped(_without_embedding(doc), f"cluster_excluded:{cluster}")
        cutoff = cutoffs.get(cluster)
        if cutoff is not None and key <= tuple(cutoff):
            return Kept(doc)
        return Dropped(_without_embedding(doc), "not_selected")


def _without_embedding(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in (EMBEDDING, EMBEDDED_FOR)}


def _plan(facts: list, docs: int, model: dict | None, cfg: ClusterSelectConfig) -> dict:
    k = len(model["centroids"]) if model else 0
    target = cfg.target_docs if cfg.target_docs is not None else round(cfg.target_fraction * docs)
    return selection_plan(dict(facts), k, target, cfg.per_cluster, cfg.exclude_clusters,
                          cfg.exclude_if.lang_not_in, cfg.exclude_if.mean_quality_below)


def _nearest(doc: dict, model: dict) -> tuple:
    cosine = float(model["centroids"][doc[CLUSTER]] @ vector_of(doc))
    return doc[CLUSTER], (cosine, doc["id"], doc["text"][:NEAREST_CHARS])


def _term_sample(doc: dict) -> tuple:
    return doc[CLUSTER], (doc[_KEY], doc["id"], sorted(document_terms(doc["text"])))


def _cluster_terms(kv: tuple) -> tuple:
    cluster, sampled = kv
    counts: Counter = Counter()
    for _, _, terms in sampled:
        counts.update(terms)
    return cluster, (len(sampled), counts)


def _stats(plan: dict, facts: list, nearest: list, sampled_terms: list, model: dict | None, docs: int) -> list:
    facts = dict(facts)
    terms = distinctive_terms({c: counts for c, (_, counts) in sampled_terms},
                              {c: n for c, (n, _) in sampled_terms})
    nearest = {c: sorted(items, reverse=True) for c, items in nearest}
    catalogue = catalogue_entries(plan, facts, nearest, terms, docs)
    return sorted({
        "k": plan["k"],
        "target": plan["target"],
        "per_cluster": plan["per_cluster"],
        "available": plan["available"],
        "selected": plan["selected"],
        "cluster_sizes": [e["docs"] for e in catalogue],
        "quotas": [plan["quotas"][c] for c in range(plan["k"])],
        "excluded": {str(c): why for c, why in plan["excluded"].items()},
        "warnings": plan["warnings"],
        "kmeans_sample": model["sample"] if model else 0,
        "centroid_map": centroid_map(model["centroids"]) if model else [],
        "catalogue": catalogue,
    }.items())


class ClusterSelect(beam.PTransform):
    def __init__(self, label: str, cfg: ClusterSelectConfig, model_path: str | None = None, seed: int = 0):
        super().__init__(label)
        self._stage_label = label
        self._cfg = cfg
        self._embedder = EmbedDocuments(cfg.embedding, model_path)
        self._seed = seed

    def expand(self, docs):
        label, cfg, seed = self._stage_label, self._cfg, self._seed
        embedded = docs | "Embed" >> ApplyDocStage(f"{label}.embed", self._embedder)
        ok = embedded.kept
        model_pc = ok | "Cluster" >> KMeansOverSample(
            functools.partial(_k, clusters=cfg.clusters), cfg.kmeans_sample, cfg.kmeans_iterations, seed)
        model = beam.pvalue.AsSingleton(model_pc)
        assigned = ok | "Assign" >> beam.Map(_assign, model, seed)
        count = beam.pvalue.AsSingleton(ok | "Count" >> beam.combiners.Count.Globally())
        facts = (
            assigned
            | "ByCluster" >> beam.Map(lambda d: (d[CLUSTER], d))
            | "Facts" >> beam.CombinePerKey(_FactsFn())
            | "FactList" >> beam.combiners.ToList()
        )
        plan = facts | "Plan" >> beam.Map(_plan, count, model, cfg)
        cutoffs = (
            assigned
            | "QuotaKeys" >> beam.Map(lambda d, p: (d[CLUSTER], (p["quotas"].get(d[CLUSTER], 0), d[_KEY], d["id"])),
                                      beam.pvalue.AsSingleton(plan))
            | "Cutoffs" >> beam.CombinePerKey(_SmallestWithinQuotaFn())
            | "CutoffDict" >> beam.combiners.ToDict()
        )
        selected = assigned | "Select" >> ApplyDocStage(label, SelectByQuota(), side={
            "plan": beam.pvalue.AsSingleton(plan), "cutoffs": beam.pvalue.AsSingleton(cutoffs)})
        nearest = (
            assigned
            | "NearestKey" >> beam.Map(_nearest, model)
            | "Nearest" >> beam.combiners.Top.LargestPerKey(NEAREST)
            | "NearestList" >> beam.combiners.ToList()
        )
        sampled_terms = (
            assigned
            | "TermDocs" >> beam.Map(_term_sample)
            | "TermSample" >> beam.combiners.Top.SmallestPerKey(TERM_DOCS)
            | "TermCounts" >> beam.Map(_cluster_terms)
            | "TermList" >> beam.combiners.ToList()
        )
        stats = plan | "Stats" >> beam.FlatMap(
            _stats, beam.pvalue.AsSingleton(facts), beam.pvalue.AsSingleton(nearest),
            beam.pvalue.AsSingleton(sampled_terms), model, count)
        return StageOutputs(
            selected.kept,
            (embedded.dropped, selected.dropped) | "AllDropped" >> beam.Flatten(),
            (embedded.quarantined, selected.quarantined) | "AllQuarantined" >> beam.Flatten(),
            stats=stats,
        )
