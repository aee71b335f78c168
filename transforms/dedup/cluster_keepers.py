"""Near-duplicate clusters → one keeper each, decided on keys: ``ChooseKeepers``, then ``decide``.

A cluster is every document that shares a component root. The keeper is the
document of smallest ``rank(doc)``, found by a CombinePerKey over (rank, id)
pairs; each member then learns its keeper and the cluster size by a join on the
root. Only ids, roots and ranks are grouped, never the documents: the stage
streams the documents past the resulting ``id → (keeper id, size)`` map, a side
input (``decide``). ``rank`` is a callable so the choice (smallest id, highest
signal) stays with the stage's config.
"""
from __future__ import annotations

from typing import Callable

import apache_beam as beam

from transforms.core.outcomes import Dropped, Kept, Outcome

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


def _root_and_rank(keyed):
    """CoGroupByKey(id: root, rank) → (root, (rank, id)); an id without a rank (no document) is skipped."""
    doc_id, grouped = keyed
    roots, ranks = list(grouped["root"]), list(grouped["rank"])
    if roots and ranks:
        yield roots[0], (ranks[0], doc_id)


def _members(keyed):
    """CoGroupByKey(root: member ids, keeper) → (id, (keeper id, cluster size)) per member."""
    _, grouped = keyed
    for _, keeper_id, size in grouped["keeper"]:
        for doc_id in grouped["member"]:
            yield doc_id, (keeper_id, size)


class ChooseKeepers(beam.PTransform):
    """``{"labels": (id, root), "ranks": (id, rank)}`` (ranks of at least the clustered ids)
    → ``keepers`` (root, (best rank, keeper id, cluster size)) and ``decisions``
    (id, (keeper id, cluster size)) for every clustered id."""

    def expand(self, inputs):
        keepers = (
            {"root": inputs["labels"], "rank": inputs["ranks"]}
            | "JoinRanks" >> beam.CoGroupByKey()
            | "RootRank" >> beam.FlatMap(_root_and_rank)
            | "Keeper" >> beam.CombinePerKey(_KeeperCombine())
        )
        decisions = (
            {"member": inputs["labels"] | "ByRoot" >> beam.Map(lambda kv: (kv[1], kv[0])), "keeper": keepers}
            | "JoinKeeper" >> beam.CoGroupByKey()
            | "Members" >> beam.FlatMap(_members)
        )
        return {"keepers": keepers, "decisions": decisions}


def decide(doc: dict, decisions: dict[str, tuple[str, int]], reason: str) -> Outcome:
    """A document and the cluster map: a document in no cluster or its cluster's keeper is kept, any other
    member dropped with ``reason`` and the keeper's id; every document gets ``dup_cluster`` (its keeper's
    id) and ``dup_cluster_size``."""
    keeper_id, size = decisions.get(doc["id"], (doc["id"], 1))
    doc = {**doc, "dup_cluster": keeper_id, "dup_cluster_size": size}
    return Kept(doc) if keeper_id == doc["id"] else Dropped(doc, reason, keeper_id)
