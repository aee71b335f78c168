"""In-Context Pretraining ordering, the pure part (Shi et al., "In-Context Pretraining").

Inside one group of documents (a k-means cluster, see ``transforms.ordering.icp_order``):

1. kNN graph (``transforms.ordering.knn``), made undirected and weighted by cosine;
2. semantic near-duplicates: a document whose cosine to an already kept one
   (in id order) reaches the threshold is dropped, pointing at that document;
3. the paper's Algorithm 1 over the kept documents: start at an unvisited
   document of minimum degree, move to the unvisited neighbour of highest
   similarity, jump to the next unvisited minimum-degree document when stuck;
4. the path is cut into contexts of ``context_tokens`` tokens; a document that
   does not fit the rest of its context runs on into the next (as in the paper).

Why our own traversal and not networkx: networkx has no such greedy walk (its
TSP approximations are minimum tours over complete graphs, quadratic in
memory), and a dict-of-dicts graph of 1M nodes × 50 edges costs gigabytes and
minutes in Python. Over a CSR graph the walk is a numba loop, O(edges).
Degrees are those of the undirected kNN graph, fixed before the walk (the
paper does not update them); ties go to the smaller index, i.e. the smaller id.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from transforms.ordering.knn import MISSING, KnnConfig, nearest_neighbours


@dataclass(frozen=True)
class Graph:
    """Undirected weighted graph in CSR form; ``indices[indptr[u]:indptr[u+1]]`` are u's neighbours."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)


def undirected_graph(neighbours: np.ndarray, sims: np.ndarray) -> Graph:
    """Both directions of every kNN edge, each pair once (with its higher similarity)."""
    n, k = neighbours.shape
    src = np.repeat(np.arange(n, dtype=np.int64), k)
    dst = neighbours.ravel().astype(np.int64)
    w = sims.ravel().astype(np.float32)
    valid = (dst != MISSING) & (dst != src)
    src, dst, w = src[valid], dst[valid], w[valid]
    u = np.concatenate([src, dst])
    v = np.concatenate([dst, src])
    w = np.concatenate([w, w])
    order = np.lexsort((-w, v, u))
    u, v, w = u[order], v[order], w[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w = u[first], v[first], w[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return Graph(indptr, v, w)


@numba.njit(cache=True)
def _walk(indptr, indices, weights, by_degree):
    n = len(indptr) - 1
    visited = np.zeros(n, dtype=np.bool_)
    path = np.empty(n, dtype=np.int64)
    jumped = np.zeros(n, dtype=np.bool_)
    filled = 0
    next_start = 0
    while filled < n:
        while visited[by_degree[next_start]]:
            next_start += 1
        current = by_degree[next_start]
        visited[current] = True
        path[filled] = current
        jumped[filled] = True
        filled += 1
        while True:
            best = -1
            best_weight = -np.inf
            for e in range(indptr[current], indptr[current + 1]):
                v = indices[e]
                if not visited[v] and (best < 0 or weights[e] > best_weight):
                    best = v
                    best_weight = weights[e]
            if best < 0:
                break
            current = best
            visited[current] = True
            path[filled] = current
            filled += 1
    return path, jumped


def traverse(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 1: ``(path, jumped)``; ``jumped[i]`` is True where ``path[i]`` was a (min-degree) start."""
    if len(graph.indptr) == 1:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    by_degree = np.argsort(graph.degree, kind="stable").astype(np.int64)
    return _walk(graph.indptr, graph.indices, graph.weights, by_degree)


@numba.njit(cache=True)
def _keepers(indptr, indices, weights, threshold):
    n = len(indptr) - 1
    keeper = np.empty(n, dtype=np.int64)
    for u in range(n):
        keeper[u] = u
        best_weight = -np.inf
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v < u and keeper[v] == v and weights[e] >= threshold and weights[e] > best_weight:
                keeper[u] = v
                best_weight = weights[e]
    return keeper


def semantic_keepers(graph: Graph, threshold: float | None) -> np.ndarray:
    """``keeper[i] == i`` if document i is kept, else the index of the kept near-duplicate it is dropped for.

    Documents are decided in index order (callers sort by id): each is dropped
    if an earlier kept neighbour has cosine ≥ threshold, so every dropped
    document points at a kept one and no two kept neighbours are that close.
    """
    n = len(graph.indptr) - 1
    if threshold is None:
        return np.arange(n, dtype=np.int64)
    return _keepers(graph.indptr, graph.indices, graph.weights, np.float32(threshold))


def subgraph_lists(neighbours: np.ndarray, sims: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kNN lists of the kept rows, renumbered over the kept rows; edges to dropped rows become missing."""
    remap = np.full(len(neighbours) + 1, MISSING, dtype=np.int64)  # last slot: MISSING maps to MISSING
    remap[kept] = np.arange(len(kept))
    sub = remap[neighbours[kept]]
    sub_sims = np.where(sub == MISSING, -np.inf, sims[kept]).astype(np.float32)
    return sub, sub_sims


@dataclass(frozen=True)
class Contexts:
    """Per path position: the context the document starts in, its position there, and the last context it reaches."""

    context: np.ndarray
    position: np.ndarray
    last_context: np.ndarray

    @property
    def count(self) -> int:
        return int(self.last_context[-1]) + 1 if len(self.last_context) else 0


def cut_contexts(tokens: np.ndarray, context_tokens: int) -> Contexts:
    """Concatenate documents in path order and cut every ``context_tokens`` tokens (empty texts count 1)."""
    lengths = np.maximum(np.asarray(tokens, dtype=np.int64), 1)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    context = starts // context_tokens
    last = (ends - 1) // context_tokens
    position = np.arange(len(context)) - np.searchsorted(context, context, side="left")
    return Contexts(context, position, last)


def adjacent_cosines(vectors: np.ndarray, path: np.ndarray, contexts: Contexts | None = None) -> np.ndarray:
    """Cosine of each consecutive pair on the path; with contexts, only pairs that share a context."""
    a, b = vectors[path[:-1]], vectors[path[1:]]
    cos = np.einsum("ij,ij->i", a, b)
    if contexts is not None:
        cos = cos[contexts.context[1:] <= contexts.last_context[:-1]]
    return cos


def random_order_cosine(vectors: np.ndarray, seed: int) -> float:
    """Mean adjacent cosine of a random order: the baseline an ordering must beat."""
    if len(vectors) < 2:
        return float("nan")
    path = np.random.default_rng(seed).permutation(len(vectors))
    return float(adjacent_cosines(vectors, path).mean())


@dataclass(frozen=True)
class GroupOrder:
    """Ordering of one group; indices refer to the group's rows (sorted by id by the caller)."""

    keeper: np.ndarray  # keeper[i] == i: kept; else the kept row it duplicates
    path: np.ndarray  # kept rows in reading order
    jumped: np.ndarray  # per path position: reached by a jump, not from a neighbour
    contexts: Contexts  # per path position
    cosine_sum: float  # adjacent pairs inside contexts
    cosine_pairs: int


def order_group(
    vectors: np.ndarray,
    tokens: np.ndarray,
    knn: KnnConfig,
    duplicate_threshold: float | None,
    context_tokens: int,
) -> GroupOrder:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    tokens = np.asarray(tokens, dtype=np.int64)
    neighbours, sims = nearest_neighbours(vectors, knn)
    keeper = semantic_keepers(undirected_graph(neighbours, sims), duplicate_threshold)
    kept = np.flatnonzero(keeper == np.arange(len(keeper)))
    sub, sub_sims = subgraph_lists(neighbours, sims, kept)
    local_path, jumped = traverse(undirected_graph(sub, sub_sims))
    path = kept[local_path]
    contexts = cut_contexts(tokens[path], context_tokens)
    cos = adjacent_cosines(vectors, path, contexts)
    return GroupOrder(keeper, path, jumped, contexts, float(cos.sum()), int(len(cos)))


def chain_order(centroids: np.ndarray, k: int) -> np.ndarray:
    """Order of groups: Algorithm 1 over their (normalized) centroids, so similar groups sit side by side."""
    if len(centroids) <= 1:
        return np.arange(len(centroids), dtype=np.int64)
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    neighbours, sims = nearest_neighbours(unit.astype(np.float32), KnnConfig(k=k))
    path, _ = traverse(undirected_graph(neighbours, sims))
    return path
