"""ICP ordering logic without Beam: Algorithm 1 checked rule by rule, near-dups, contexts, kNN vs brute force."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.ordering.icp_order import IcpOrderConfig, cluster_count, plan_groups
from transforms.ordering.icp_walk import (
    adjacent_cosines,
    chain_order,
    cut_contexts,
    order_group,
    random_order_cosine,
    semantic_keepers,
    subgraph_lists,
    traverse,
    undirected_graph,
)
from transforms.ordering.knn import MISSING, KnnConfig, drop_self, nearest_neighbours


def adjacency(graph) -> list[dict[int, float]]:
    n = len(graph.indptr) - 1
    return [
        {int(v): float(w) for v, w in zip(graph.indices[graph.indptr[u]:graph.indptr[u + 1]],
                                          graph.weights[graph.indptr[u]:graph.indptr[u + 1]])}
        for u in range(n)
    ]


def check_algorithm_1(graph, path, jumped):
    """Every rule of Algorithm 1, checked on the walk the implementation produced."""
    adj = adjacency(graph)
    n = len(adj)
    degree = [len(a) for a in adj]
    assert sorted(path.tolist()) == list(range(n)), "every document exactly once"
    visited: set[int] = set()
    for i, node in enumerate(path.tolist()):
        unvisited_nbrs = {v: w for v, w in adj[path[i - 1]].items() if v not in visited} if i else {}
        if unvisited_nbrs:
            assert not jumped[i], "must not jump while the current document has unvisited neighbours"
            best = max(unvisited_nbrs.values())
            assert unvisited_nbrs.get(node) == best, "step goes to the most similar unvisited neighbour"
            assert node == min(v for v, w in unvisited_nbrs.items() if w == best), "ties: smaller index"
        else:
            assert jumped[i], "a jump when stuck"
            remaining = [v for v in range(n) if v not in visited]
            low = min(degree[v] for v in remaining)
            assert degree[node] == low, "jump to an unvisited document of minimum degree"
            assert node == min(v for v in remaining if degree[v] == low)
        visited.add(node)


@st.composite
def random_knn(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(0, 6))
    sims_pool = st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0]) if draw(st.booleans()) else st.floats(-1, 1, width=32)
    neighbours = [[draw(st.integers(-1, n - 1)) for _ in range(k)] for _ in range(n)]
    sims = [[draw(sims_pool) for _ in range(k)] for _ in range(n)]
    return np.array(neighbours, dtype=np.int64).reshape(n, k), np.array(sims, dtype=np.float32).reshape(n, k)


@settings(max_examples=300, deadline=None)
@given(random_knn())
def test_walk_follows_algorithm_1_on_random_graphs(lists):
    graph = undirected_graph(*lists)
    path, jumped = traverse(graph)
    check_algorithm_1(graph, path, jumped)


def adversarial_graphs():
    yield "no_edges", np.full((30, 3), MISSING), np.full((30, 3), -np.inf)
    star = np.full((50, 1), 0)
    yield "star", star, np.linspace(0.1, 0.9, 50).reshape(50, 1)
    chain = np.array([[i + 1] for i in range(99)] + [[MISSING]])
    yield "chain", chain, np.ones((100, 1))
    yield "complete_equal_weights", np.array([[j for j in range(20) if j != i] for i in range(20)]), np.full((20, 19), 0.5)
    comps = np.array([[(i // 5) * 5 + (i + 1) % 5, (i // 5) * 5 + (i + 2) % 5] for i in range(100)])
    yield "many_components", comps, np.random.default_rng(1).random((100, 2))
    yield "self_loops_only", np.arange(10).reshape(10, 1), np.ones((10, 1))
    yield "single", np.zeros((1, 0), np.int64), np.zeros((1, 0))
    yield "empty", np.zeros((0, 4), np.int64), np.zeros((0, 4))


@pytest.mark.parametrize("name, neighbours, sims", list(adversarial_graphs()), ids=lambda x: x if isinstance(x, str) else "")
def test_walk_follows_algorithm_1_on_adversarial_graphs(name, neighbours, sims):
    graph = undirected_graph(np.asarray(neighbours, np.int64), np.asarray(sims, np.float32))
    path, jumped = traverse(graph)
    check_algorithm_1(graph, path, jumped)
    if name == "chain":  # both ends have degree 1; the walk starts at the first and never jumps
        assert path.tolist() == list(range(100)) and jumped.sum() == 1
    if name == "star":  # leaves have degree 1: leaf 1, the hub, its most similar leaf, then a jump per leaf
        assert path[:4].tolist() == [1, 0, 49, 2] and jumped.sum() == 48


def test_walk_of_a_large_random_graph_is_complete():
    rng = np.random.default_rng(0)
    n, k = 50_000, 10
    graph = undirected_graph(rng.integers(0, n, (n, k)), rng.random((n, k), dtype=np.float32))
    path, _ = traverse(graph)
    assert np.array_equal(np.sort(path), np.arange(n))


def test_undirected_graph_keeps_each_pair_once_with_the_higher_similarity():
    graph = undirected_graph(np.array([[1, 1], [0, MISSING], [0, 2]]), np.array([[0.3, 0.7], [0.5, -np.inf], [0.2, 0.9]]))
    assert adjacency(graph) == [{1: pytest.approx(0.7), 2: pytest.approx(0.2)}, {0: pytest.approx(0.7)}, {0: pytest.approx(0.2)}]


@settings(max_examples=200, deadline=None)
@given(random_knn(), st.floats(0.0, 1.0))
def test_semantic_keepers_drop_all_but_one(lists, threshold):
    graph = undirected_graph(*lists)
    keeper = semantic_keepers(graph, threshold)
    adj = adjacency(graph)
    kept = {i for i in range(len(keeper)) if keeper[i] == i}
    for i, k in enumerate(keeper.tolist()):
        if k != i:  # dropped for an earlier kept document at least that similar
            assert k in kept and k < i and adj[i][k] >= np.float32(threshold)
    for u in kept:  # no two kept neighbours are near-duplicates
        assert not any(v in kept and w >= np.float32(threshold) for v, w in adj[u].items())
    assert semantic_keepers(graph, None).tolist() == list(range(len(keeper)))


def test_subgraph_lists_renumber_kept_rows():
    neighbours = np.array([[1, 2], [0, MISSING], [1, 0]])
    sub, sims = subgraph_lists(neighbours, np.ones((3, 2), np.float32), np.array([0, 2]))
    assert sub.tolist() == [[MISSING, 1], [MISSING, 0]]
    assert sims[0, 0] == -np.inf and sims[0, 1] == 1


def expand_contexts(tokens, size):
    """Reference: lay out every token; a document belongs to the context of its first token."""
    owner = [d for d, t in enumerate(tokens) for _ in range(max(t, 1))]
    first = {d: i // size for i, d in reversed(list(enumerate(owner)))}
    last = {d: i // size for i, d in enumerate(owner)}
    return first, last


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=60), st.integers(1, 64))
def test_cut_contexts_matches_token_layout(tokens, size):
    ctx = cut_contexts(np.array(tokens, dtype=np.int64), size)
    first, last = expand_contexts(tokens, size)
    assert ctx.context.tolist() == [first[d] for d in range(len(tokens))]
    assert ctx.last_context.tolist() == [last[d] for d in range(len(tokens))]
    for d in range(len(tokens)):
        assert ctx.position[d] == sum(1 for e in range(d) if first[e] == first[d])
    assert ctx.count == (max(last.values()) + 1 if tokens else 0)


def test_a_document_spanning_a_boundary_is_visible():
    ctx = cut_contexts(np.array([30, 50, 10, 300]), 64)
    assert ctx.context.tolist() == [0, 0, 1, 1] and ctx.last_context.tolist() == [0, 1, 1, 6]
    assert ctx.position.tolist() == [0, 1, 0, 1]


def clustered(n, dim=32, centres=8, noise=0.6, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + noise * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(vectors, k):
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.sort(sims, axis=1)[:, ::-1][:, :k]


def test_exact_knn_matches_brute_force_and_caps_k():
    x = clustered(300)
    idx, sims = nearest_neighbours(x, KnnConfig(k=10))
    assert idx.shape == (300, 10) and not (idx == np.arange(300)[:, None]).any()
    np.testing.assert_allclose(sims, brute_force(x, 10), atol=1e-5)
    np.testing.assert_allclose(sims, np.einsum("ij,ikj->ik", x, x[idx]), atol=1e-5)
    assert nearest_neighbours(x[:4], KnnConfig(k=50))[0].shape == (4, 3)
    assert nearest_neighbours(x[:1], KnnConfig(k=50))[0].shape == (1, 0)


@pytest.mark.parametrize("pq", [None, 8])
def test_ivf_knn_finds_most_true_neighbours(pq):
    x = clustered(2000)
    idx, sims = nearest_neighbours(x, KnnConfig(k=10, exact_max_docs=1000, ivf_lists=16, nprobe=4, pq_subquantizers=pq))
    true_idx, _ = nearest_neighbours(x, KnnConfig(k=10))
    found = [idx[i][idx[i] != MISSING] for i in range(len(x))]
    assert all(i not in f for i, f in enumerate(found))
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, true_idx)])
    assert recall > (0.8 if pq is None else 0.3)


def test_drop_self_when_duplicates_hide_it():
    idx = np.array([[1, 0, 2], [0, 1, 2], [0, 1, 3]])  # row 2 did not get itself back
    out, sims = drop_self(idx, np.ones((3, 3), np.float32))
    assert out.tolist() == [[1, 2], [0, 2], [0, 1]]


def test_order_group_beats_random_order_and_drops_planted_duplicate():
    x = clustered(2000, dim=64)
    x[7] = x[3]  # exact copy in embedding space
    order = order_group(x, np.full(2000, 100), KnnConfig(k=20), 0.99, 1000)
    assert order.keeper[7] == 3 and 7 not in order.path
    assert sorted(order.path.tolist()) == [i for i in range(2000) if i != 7]
    ours = order.cosine_sum / order.cosine_pairs
    assert ours > 3 * random_order_cosine(x, 0)
    assert order.contexts.count == 1999 * 100 // 1000 + 1
    assert np.isclose(adjacent_cosines(x, order.path, order.contexts).sum(), order.cosine_sum, rtol=1e-4)


def test_chain_order_is_a_permutation_that_puts_near_centroids_together():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(5, 16))
    centroids = np.concatenate([base, base + 0.01 * rng.normal(size=(5, 16))]).astype(np.float32)
    path = chain_order(centroids, 50).tolist()
    assert sorted(path) == list(range(10))
    assert all(abs(path.index(i) - path.index(i + 5)) == 1 for i in range(5))


def test_plan_offsets_are_contiguous_in_chain_order():
    summaries = [
        {"key": (c, 0), "docs": n + 1, "kept": n, "contexts": n // 2 + 1, "centroid": [float(c), 1.0],
         "cosine_sum": 0.5 * n, "cosine_pairs": n, "jumps": 1, "spanning": 0}
        for c, n in [(0, 4), (1, 6), (2, 3)]
    ]
    plan = plan_groups(summaries, {"centroids": np.zeros((3, 2)), "random_order_cosine": 0.1, "sample": 13}, 50)
    spans = sorted((r, r + s["kept"], c, c + s["contexts"]) for s in summaries for r, c in [plan["offsets"][s["key"]]])
    assert spans[0][0] == 0 and spans[0][2] == 0
    assert all(a[1] == b[0] and a[3] == b[2] for a, b in zip(spans, spans[1:]))
    stats = dict(plan["stats"])
    assert stats["adjacent_cosine_vs_random"] == pytest.approx(5.0) and stats["groups"] == 3
    assert plan_groups([], None, 50)["offsets"] == {}


def test_cluster_count_follows_config():
    assert cluster_count(100_000, 50_000, IcpOrderConfig()) == 5
    assert cluster_count(100_000, 3, IcpOrderConfig()) == 3
    assert cluster_count(10, 10, IcpOrderConfig(clusters=4)) == 4
    assert cluster_count(0, 0, IcpOrderConfig()) == 1
