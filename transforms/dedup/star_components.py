"""``StarComponents``: connected components of an edge collection, in Beam.

The per-node large-star / small-star operations and their one-process oracle
are in ``transforms.dedup.star_kernels``; this module unrolls them into Beam rounds, so
no step gathers all edges or ids on one worker.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsList
from apache_beam.transforms.window import GlobalWindows

from transforms.dedup.star_kernels import (
    ComponentsNotConverged,
    both_directions,
    large_star,
    larger_endpoint,
    small_star,
)

_CHANGES = "changes"
_SETTLED = "settled"
# Round r runs only if round r - GATE_LAG changed edges. A lag of two keeps the gate outside the
# stage that feeds round r its edges (round r - 1's small-star), so Beam still fuses the two;
# gating on round r - 1 would put a global barrier between every pair of rounds.
GATE_LAG = 2


def changes_key(round_index: int) -> str:
    """The counts key under which a round's rewired edges are summed."""
    return f"changes/{round_index}"


class _StarFn(beam.DoFn):
    """One star operation (``large_star`` or ``small_star``) of one round. Its change count
    leaves once per bundle as ``(changes_key(round), n)``: few elements, read as a side input
    by the round that the count gates, and summed with the stage's other counts."""

    def __init__(self, operation, round_index: int):
        self._operation = operation
        self._key = changes_key(round_index)

    def start_bundle(self):
        self._changes = 0

    def process(self, keyed):
        edges, changes = self._operation(*keyed)
        self._changes += changes
        yield from edges

    def finish_bundle(self):
        if self._changes:
            yield beam.pvalue.TaggedOutput(_CHANGES, GlobalWindows.windowed_value((self._key, self._changes)))


class _GatedKeysFn(beam.DoFn):
    """Large-star keys of a round's edges, or, when the gating round changed nothing (the edges
    are already a fixed point), the edges themselves to ``settled``: they skip every later round."""

    def __init__(self):
        self._settled = Metrics.counter("corpusmill.star_components", "settled_edges")  # in the manifest

    def process(self, edge, *gate):
        if gate and not any(n for counts in gate for _, n in counts):
            self._settled.inc()
            yield beam.pvalue.TaggedOutput(_SETTLED, edge)
            return
        yield from both_directions(edge)


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
    """Edges (v, m) → ``labels`` (node, component minimum), in at most ``max_rounds`` rounds,
    and ``changes``: ``(changes_key(round), n)`` partial counts.

    A round is two GroupByKeys (large-star by both endpoints, small-star by the
    larger endpoint). Beam graphs are static, so the rounds are unrolled to
    ``max_rounds``, but a round whose gating round (``GATE_LAG`` before it)
    changed nothing sends its edges straight to the labels: the rounds after the
    fixed point run empty. The gate is a side input of per-bundle change counts
    the rounds already produce, so it adds no grouping. The change counts are
    summed by whoever sums the stage's other counts; ``convergence`` reads the
    sums and fails the run if the last round still changed edges.
    """

    def __init__(self, max_rounds: int):
        super().__init__()
        self._max_rounds = max_rounds

    def expand(self, edges):
        changes, settled = [], []
        for r in range(self._max_rounds):
            gate = [AsList(c) for c in changes[2 * (r - GATE_LAG):2 * (r - GATE_LAG) + 2]] if r >= GATE_LAG else []
            keyed = edges | f"R{r}LargeKeys" >> beam.ParDo(_GatedKeysFn(), *gate).with_outputs(_SETTLED, main="keys")
            if gate:
                settled.append(keyed[_SETTLED])
            large = (
                keyed.keys
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
            settled + [edges]
            | "FinalEdges" >> beam.Flatten()
            | "Labels" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[1])])
            | "DistinctLabels" >> beam.Distinct()
        )
        return {"labels": labels, "changes": changes | "AllChanges" >> beam.Flatten()}
