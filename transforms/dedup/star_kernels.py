"""Connected components by alternating large-star / small-star (Kiveris et al., 2014).

Each operation is a per-node function of the node and its neighbour set, so a
Beam round is one GroupByKey plus a FlatMap (no worker ever holds more than one
node's neighbourhood). Edges are ``(v, m)`` pairs with ``v > m``. A node's
"changes" count is the number of edges the operation rewires; a round where
both operations change nothing proves convergence: every node then has either
only larger neighbours (a root, the minimum of its component) or exactly one
smaller neighbour and no larger one (a leaf), i.e. the edges are stars rooted
at the component minima. The round bound is O(log² n); rounds are unrolled to a
configured maximum and a non-zero change count in the last round is an error.

``connected_components`` runs the same per-node functions in one process: it
is the test oracle for the distributed version, never used on a corpus.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Iterator


class ComponentsNotConverged(RuntimeError):
    """The round bound was hit before large-star/small-star reached a fixed point."""


def large_star(node, neighbours: Iterable) -> tuple[list[tuple], int]:
    """Connect every strictly larger neighbour to the minimum of the closed neighbourhood."""
    nbrs = set(neighbours)
    m = min(nbrs | {node})
    larger = [v for v in nbrs if v > node]
    edges = [(v, m) for v in larger]
    return edges, (len(larger) if m != node else 0)


def small_star(node, smaller_neighbours: Iterable) -> tuple[list[tuple], int]:
    """Connect the node and its smaller neighbours to the minimum among them."""
    nbrs = set(smaller_neighbours)
    if not nbrs:
        return [], 0
    m = min(nbrs)
    edges = [(v, m) for v in nbrs | {node} if v != m]
    return edges, len(nbrs) - 1


def both_directions(edge: tuple) -> Iterator[tuple]:
    """Large-star keys each edge by both endpoints."""
    v, m = edge
    yield v, m
    yield m, v


def larger_endpoint(edge: tuple) -> tuple:
    """Small-star keys each edge by its larger endpoint."""
    v, m = edge
    return (v, m) if v > m else (m, v)


def orient(a, b) -> tuple:
    return (a, b) if a > b else (b, a)


def star_labels(edges: Iterable[tuple]) -> dict:
    """Node → component root, from converged star edges (v, root)."""
    labels = {}
    for v, m in edges:
        labels[v] = m
        labels[m] = m
    return labels


def connected_components(edges: Iterable[tuple], max_rounds: int = 64) -> tuple[dict, int]:
    """(node → minimum node of its component, rounds that changed something)."""
    current = {orient(a, b) for a, b in edges if a != b}
    for rounds in range(max_rounds):
        adjacency = defaultdict(set)
        for e in current:
            for u, v in both_directions(e):
                adjacency[u].add(v)
        after_large, changes = set(), 0
        for u, nbrs in adjacency.items():
            out, c = large_star(u, nbrs)
            after_large.update(out)
            changes += c
        smaller = defaultdict(set)
        for e in after_large:
            u, v = larger_endpoint(e)
            smaller[u].add(v)
        current = set()
        for u, nbrs in smaller.items():
            out, c = small_star(u, nbrs)
            current.update(out)
            changes += c
        if changes == 0:
            return star_labels(current), rounds
    raise ComponentsNotConverged(f"no fixed point after {max_rounds} rounds")
