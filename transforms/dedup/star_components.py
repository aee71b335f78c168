"""``StarComponents``: connected components of an edge collection, in Beam.

The per-node large-star / small-star operations and their one-process oracle
are in ``transforms.dedup.star_kernels``; this module unrolls them into Beam rounds, so
no step gathers all edges or ids on one worker.
"""
from __future__ import annotations

import apache_beam as beam

from transforms.dedup.star_kernels import (
    ComponentsNotConverged,
    both_directions,
    large_star,
    larger_endpoint,
    small_star,
)

_CHANGES = "changes"


def changes_key(round_index: int) -> str:
    """The counts key under which a round's rewired edges are summed."""
    return f"changes/{round_index}"


class _StarFn(beam.DoFn):
    """One star operation (``large_star`` or ``small_star``) of one round; its change
    count leaves as ``(changes_key(round), n)``."""

    def __init__(self, operation, round_index: int):
        self._operation = operation
        self._key = changes_key(round_index)

    def process(self, keyed):
        edges, changes = self._operation(*keyed)
        yield from edges
        if changes:
            yield beam.pvalue.TaggedOutput(_CHANGES, (self._key, changes))


def convergence(counts: dict, max_rounds: int) -> dict:
    """Summed counts (``changes_key(r)`` → edges rewired; rounds that changed nothing have no
    entry) → the stats ``rounds_used`` and ``changes_per_round``, or raise if the last round
    still changed edges."""
    changes = [counts.get(changes_key(r), 0) for r in range(max_rounds)]
    if changes[-1] != 0:
        raise ComponentsNotConverged(
            f"large-star/small-star still changed {changes[-1]} edges in round {max_rounds} of "
            f"{max_rounds}; raise max_rounds (changes per round: {changes})"
        )
    return {"rounds_used": sum(1 for c in changes if c), "changes_per_round": changes}


class StarComponents(beam.PTransform):
    """Edges (v, m) → ``labels`` (node, component minimum), unrolled to ``max_rounds`` rounds,
    and ``changes``: ``(changes_key(round), n)`` per node that rewired edges.

    A round is two GroupByKeys (large-star by both endpoints, small-star by the
    larger endpoint). The change counts are summed by whoever sums the stage's
    other counts (one CombinePerKey for all of them; ``convergence`` reads the
    sums and fails the run if the last round still changed edges). Gating later
    rounds on a per-round global sum would add a combine per round, which on
    small edge sets costs more than the rounds themselves. Rounds after the fixed
    point pass the edges through unchanged, so running all of them is correct.
    """

    def __init__(self, max_rounds: int):
        super().__init__()
        self._max_rounds = max_rounds

    def expand(self, edges):
        changes = []
        for r in range(self._max_rounds):
            large = (
                edges
                | f"R{r}LargeKeys" >> beam.FlatMap(both_directions)
                | f"R{r}LargeGroup" >> beam.GroupByKey()
                | f"R{r}LargeStar" >> beam.ParDo(_StarFn(large_star, r)).with_outputs(_CHANGES, main="edges")
            )
            small = (
                large.edges
                | f"R{r}SmallKeys" >> beam.Map(larger_endpoint)
                | f"R{r}SmallGroup" >> beam.GroupByKey()
                | f"R{r}SmallStar" >> beam.ParDo(_StarFn(small_star, r)).with_outputs(_CHANGES, main="edges")
            )
            changes += [large[_CHANGES], small[_CHANGES]]
            edges = small.edges
        labels = (
            edges
            | "Labels" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[1])])
            | "DistinctLabels" >> beam.Distinct()
        )
        return {"labels": labels, "changes": changes | "AllChanges" >> beam.Flatten()}
