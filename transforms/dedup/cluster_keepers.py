"""Near-duplicate clusters → one keeper each: ``ChooseKeepers``, then ``ApplyDecision``.

A cluster is every document that shares a component root. The keeper is the
document of smallest ``rank(doc)``, found by a CombinePerKey that carries only
(rank, id, size), never the documents; the documents meet their keeper in a
second join. Both take ``rank`` as a callable so the choice (smallest id,
highest signal) stays with the stage's config.
"""
from __future__ import annotations

import functools
from typing import Callable

import apache_beam as beam

from transforms.core.outcomes import DROPPED, KEPT, Dropped, Kept
from transforms.core.runner import RouteGroups, StageCounters

Rank = Callable[[dict], tuple]


class _KeeperCombine(beam.CombineFn):
    """Per root: (best rank, its doc id, cluster size) without holding the documents."""

    def create_accumulator(self):
        return (None, None, 0)

    def add_input(self, acc, ranked):
        rank, doc_id = ranked
        best, best_id, n = acc
        if best is None or rank < best:
            best, best_id = rank, doc_id
        return (best, best_id, n + 1)

    def merge_accumulators(self, accs):
        out = (None, None, 0)
        for best, best_id, n in accs:
            if best is not None and (out[0] is None or best < out[0]):
                out = (best, best_id, out[2])
            out = (out[0], out[1], out[2] + n)
        return out

    def extract_output(self, acc):
        return acc


def _split_labelled(keyed):
    """CoGroupByKey(docs by id, labels) → docs with their root, or unclustered docs."""
    _, grouped = keyed
    roots = list(grouped["root"])
    for doc in grouped["doc"]:
        if roots:
            yield beam.pvalue.TaggedOutput("clustered", (roots[0], doc))
        else:
            yield doc


class ChooseKeepers(beam.PTransform):
    """``{"docs": docs, "labels": (id, root)}`` → ``clustered`` (root, doc), ``single``
    (docs in no cluster) and ``keepers`` (root, (best rank, keeper id, cluster size))."""

    def __init__(self, rank: Rank):
        super().__init__()
        self._rank = rank

    def expand(self, inputs):
        rank = self._rank
        labelled = (
            {"doc": inputs["docs"] | "KeyById" >> beam.Map(lambda d: (d["id"], d)), "root": inputs["labels"]}
            | "JoinLabels" >> beam.CoGroupByKey()
            | "Split" >> beam.FlatMap(_split_labelled).with_outputs("clustered", main="single")
        )
        keepers = (
            labelled.clustered
            | "Rank" >> beam.Map(lambda kv: (kv[0], (rank(kv[1]), kv[1]["id"])))
            | "Keeper" >> beam.CombinePerKey(_KeeperCombine())
        )
        return {"clustered": labelled.clustered, "single": labelled.single, "keepers": keepers}


def resolve_cluster(grouped: dict, rank: Rank, reason: str) -> list:
    """One cluster (its documents and its keeper): the keeper kept, the others dropped with its id."""
    best, keeper_id, size = next(iter(grouped["keeper"]))
    outcomes = []
    for doc in grouped["docs"]:
        doc = {**doc, "dup_cluster": keeper_id, "dup_cluster_size": size}
        outcomes.append(Kept(doc) if rank(doc) == best else Dropped(doc, reason, keeper_id))
    return outcomes


class _SingletonFn(beam.DoFn):
    def __init__(self, label: str):
        self._label = label

    def setup(self):
        self._counters = StageCounters(self._label)

    def process(self, doc):
        self._counters.inputs.inc()
        self._counters.kept.inc()
        yield {**doc, "dup_cluster": doc["id"], "dup_cluster_size": 1}


class ApplyDecision(beam.PTransform):
    """``ChooseKeepers``' outputs → ``kept`` (keepers and unclustered docs) and ``dropped``
    (every other clustered doc, with ``reason`` and the keeper's id); every doc gets
    ``dup_cluster`` (its keeper's id) and ``dup_cluster_size``, and is counted for ``label``."""

    def __init__(self, label: str, rank: Rank, reason: str):
        super().__init__()
        self._label = label
        self._rank = rank
        self._reason = reason

    def expand(self, chosen):
        resolved = (
            {"docs": chosen["clustered"], "keeper": chosen["keepers"]}
            | "JoinKeeper" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(RouteGroups(self._label, functools.partial(resolve_cluster, rank=self._rank, reason=self._reason))).with_outputs(
                DROPPED, main=KEPT
            )
        )
        singles = chosen["single"] | "Singletons" >> beam.ParDo(_SingletonFn(self._label))
        kept = (resolved[KEPT], singles) | "AllKept" >> beam.Flatten()
        return {KEPT: kept, DROPPED: resolved[DROPPED]}
