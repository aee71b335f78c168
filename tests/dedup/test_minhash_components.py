"""Large-star/small-star components are exact: compared with union-find on the same edges."""
from __future__ import annotations

import random

import pytest

from transforms.dedup.star_kernels import ComponentsNotConverged, connected_components


def union_find(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def relabel(edges, seed):
    """Random ids so structure and id order are unrelated."""
    nodes = sorted({x for e in edges for x in e})
    ids = random.Random(seed).sample(range(10 * len(nodes) + 10), len(nodes))
    m = dict(zip(nodes, ids))
    return [(m[a], m[b]) for a, b in edges]


def graphs():
    rng = random.Random(42)
    yield "random_sparse", [(rng.randrange(2000), rng.randrange(2000)) for _ in range(1500)]
    yield "random_dense", [(rng.randrange(300), rng.randrange(300)) for _ in range(3000)]
    yield "chain_sorted", [(i, i + 1) for i in range(3000)]
    yield "chain_shuffled", relabel([(i, i + 1) for i in range(3000)], 1)
    yield "star", [(0, i) for i in range(1, 2000)]
    yield "star_center_max", [(5000, i) for i in range(2000)]
    yield "tiny_components", relabel([(2 * i, 2 * i + 1) for i in range(2000)] + [(3, 5000)], 2)
    yield "cycles_and_self_loops", [(i, (i + 1) % 50) for i in range(50)] + [(7, 7), (60, 61), (61, 60)]
    yield "string_ids", [(f"doc-{i:05d}", f"doc-{(i * 7919) % 1000:05d}") for i in range(1000)]


@pytest.mark.parametrize("name,edges", list(graphs()), ids=[n for n, _ in graphs()])
def test_matches_union_find(name, edges):
    labels, rounds = connected_components(edges, max_rounds=64)
    want = union_find([(a, b) for a, b in edges if a != b])
    assert labels == want
    assert rounds <= 20, f"{name} needed {rounds} rounds"


def test_bound_hit_fails_loudly():
    with pytest.raises(ComponentsNotConverged):
        connected_components(relabel([(i, i + 1) for i in range(3000)], 3), max_rounds=2)


def test_empty_graph():
    assert connected_components([]) == ({}, 0)
