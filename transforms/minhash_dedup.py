"""The ``minhash_dedup`` stage: MinHash LSH near-duplicate removal, distributed end to end.

    docs → signatures (batched numba kernel) → ((band, band hash), id)
         → GroupByKey → star edges (member, bucket minimum); giant buckets skipped, counted
         → distinct edges → optional verification (two joins on id) → large-star/small-star
         rounds (``StarComponents``) → (id, root) → keeper per root (CombinePerKey)
         → docs joined with labels and keepers → kept / dropped ``near_duplicate``

Every step is a GroupByKey/CoGroupByKey/CombinePerKey keyed by bucket, node, id
or root; only per-round change counts and the stats (a few numbers) are
combined globally. datatrove instead merges all duplicate pairs with union-find
in one process, which is why it is not reused here.
"""
from __future__ import annotations

import math
from typing import Literal

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.components import (
    ComponentsNotConverged,
    both_directions,
    large_star,
    larger_endpoint,
    small_star,
)
from transforms.minhash import (
    band_keys,
    choose_bands,
    datasketch_signatures,
    estimated_jaccard,
    permutations,
    signatures,
)
from transforms.outcomes import DROPPED, KEPT, Dropped, mark_rejected
from transforms.shingles import ShingleSpec, hash_shingles_batch, jaccard
from transforms.stage import StageCounters, StageOutputs

REASON = "near_duplicate"
_CHANGES = "changes"


class MinhashDedupConfig(BaseModel):
    """Defaults are datatrove's MinHash: word 5-grams, 14 bands × 8 rows (112 permutations), seed 1.

    ``bands``/``rows`` null: chosen for ``threshold`` by datasketch's ``_optimal_param``.
    ``verify`` "exact" (default) keeps a candidate edge only if the exact Jaccard of the
    two documents' shingle sets reaches ``verify_threshold`` (default ``threshold``);
    "signature" uses the MinHash estimate instead (cheaper: no shingle sets shipped,
    but an estimate from 112 values has a standard error of ~0.04 at J=0.8); "none"
    trusts every LSH candidate. Rejected edges are counted in ``rejected_edges``.
    ``max_rounds`` 10 covers chains of ~1,000 near-duplicates (random ids: 9 rounds)
    and random graphs of any size tried (5 rounds); every round is two shuffles in the
    graph whether or not it changes anything, and an unconverged run fails loudly
    naming this key.
    """

    model_config = ConfigDict(extra="forbid")

    ngram_size: int = Field(5, ge=1)
    shingle_unit: Literal["word", "char"] = "word"
    num_perm: int = Field(112, ge=1)
    seed: int = 1
    signature: Literal["native", "datasketch"] = "native"
    threshold: float = Field(0.8, gt=0, lt=1)
    bands: int | None = Field(14, ge=1)
    rows: int | None = Field(8, ge=1)
    max_bucket_size: int = Field(10_000, ge=2)
    verify: Literal["none", "signature", "exact"] = "exact"
    verify_threshold: float | None = Field(None, gt=0, le=1)
    max_rounds: int = Field(10, ge=1)
    keep: Literal["smallest_id", "highest_signal"] = "smallest_id"
    keep_signal: str | None = None
    batch_size: int = Field(512, ge=1)

    @model_validator(mode="after")
    def _check(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither (then they follow threshold)")
        if self.bands is None:
            self.bands, self.rows = choose_bands(self.threshold, self.num_perm)
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.keep == "highest_signal" and not self.keep_signal:
            raise ValueError("keep: highest_signal needs keep_signal (a signals name or numeric column)")
        return self

    @property
    def spec(self) -> ShingleSpec:
        return ShingleSpec(n=self.ngram_size, unit=self.shingle_unit)


def keep_rank(doc: dict, cfg: MinhashDedupConfig) -> tuple:
    """Smaller is better; the cluster keeps the document with the smallest rank."""
    order = (doc["id"], doc.get("origin_file") or "", doc.get("origin_line") or 0)
    if cfg.keep == "smallest_id":
        return order
    value = (doc.get("signals") or {}).get(cfg.keep_signal, doc.get(cfg.keep_signal))
    value = float(value) if isinstance(value, (int, float)) and not math.isnan(value) else -math.inf
    return (-value,) + order


def size_bin(size: int) -> str:
    """Cluster-size histogram bins: 2, 3-4, 5-8, ... (powers of two)."""
    if size <= 2:
        return "2"
    hi = 1 << (size - 1).bit_length()
    return f"{hi // 2 + 1}-{hi}"


def _sorted_bins(histogram: dict) -> dict:
    return dict(sorted(histogram.items(), key=lambda kv: int(kv[0].split("-")[0])))


class _SignatureFn(beam.DoFn):
    """Batch of docs → (id, signature bytes) and, for exact verification, (id, shingle set bytes)."""

    def __init__(self, cfg: MinhashDedupConfig):
        self._cfg = cfg

    def setup(self):
        self._a, self._b = permutations(self._cfg.num_perm, self._cfg.seed)
        self._empty = Metrics.counter("corpusmill.minhash", "docs_without_shingles")

    def process(self, docs):
        cfg = self._cfg
        texts = [d["text"] for d in docs]
        hashes, offsets = hash_shingles_batch(texts, cfg.spec)
        if cfg.signature == "native":
            sigs = signatures(hashes, offsets, self._a, self._b)
        else:
            sets = [[s.encode("utf-8") for s in cfg.spec.strings(t)] for t in texts]
            sigs = datasketch_signatures(sets, cfg.num_perm, cfg.seed).astype(np.uint64)
        for i, doc in enumerate(docs):
            if offsets[i + 1] == offsets[i]:
                self._empty.inc()
                yield beam.pvalue.TaggedOutput("empty", 1)
                continue
            yield doc["id"], sigs[i].tobytes()
            if cfg.verify == "exact":
                shingles = np.unique(hashes[offsets[i] : offsets[i + 1]])
                yield beam.pvalue.TaggedOutput("shingles", (doc["id"], shingles.tobytes()))


class _StarEdgesFn(beam.DoFn):
    """One LSH bucket → edges (member, bucket minimum); a giant bucket is skipped and counted."""

    def __init__(self, max_size: int):
        self._max = max_size

    def process(self, keyed):
        _, ids = keyed
        members = set(ids)
        if len(members) < 2:
            return
        if len(members) > self._max:
            yield beam.pvalue.TaggedOutput("giant", len(members))
            return
        m = min(members)
        for v in members:
            if v != m:
                yield v, m


def _attach_first(keyed):
    """CoGroupByKey(edges by m, payload) → (v, (m, payload of m))."""
    m, grouped = keyed
    payload = next(iter(grouped["payload"]), None)
    if payload is None:
        return
    for v in grouped["edges"]:
        yield v, (m, payload)


class _VerifyFn(beam.DoFn):
    def __init__(self, mode: str, threshold: float):
        self._mode = mode
        self._threshold = threshold

    def process(self, keyed):
        v, grouped = keyed
        payload = next(iter(grouped["payload"]), None)
        if payload is None:
            return
        mine = np.frombuffer(payload, np.uint64)
        for m, theirs in grouped["edges"]:
            other = np.frombuffer(theirs, np.uint64)
            sim = estimated_jaccard(mine, other) if self._mode == "signature" else jaccard(mine, other)
            if sim >= self._threshold:
                yield v, m
            else:
                yield beam.pvalue.TaggedOutput("rejected", 1)


class _RoundFn(beam.DoFn):
    """A star operation of one round; its change count leaves tagged with the round."""

    def __init__(self, round_index: int):
        self._round = round_index


class _LargeStarFn(_RoundFn):
    def process(self, keyed):
        edges, changes = large_star(*keyed)
        yield from edges
        if changes:
            yield beam.pvalue.TaggedOutput(_CHANGES, (self._round, changes))


class _SmallStarFn(_RoundFn):
    def process(self, keyed):
        edges, changes = small_star(*keyed)
        yield from edges
        if changes:
            yield beam.pvalue.TaggedOutput(_CHANGES, (self._round, changes))


def _check_converged(round_changes: list[tuple[int, int]], max_rounds: int) -> dict:
    """Per-round change sums (rounds that changed nothing have no entry) → stats, or raise."""
    by_round = dict(round_changes)
    changes = [by_round.get(r, 0) for r in range(max_rounds)]
    if changes[-1] != 0:
        raise ComponentsNotConverged(
            f"large-star/small-star still changed {changes[-1]} edges in round {max_rounds} of "
            f"{max_rounds}; raise max_rounds (changes per round: {changes})"
        )
    return {"rounds_used": sum(1 for c in changes if c), "changes_per_round": changes}


class StarComponents(beam.PTransform):
    """Edges (v, m) → (node, component minimum), unrolled to ``max_rounds`` rounds.

    A round is two GroupByKeys (large-star by both endpoints, small-star by the
    larger endpoint); the DoFns tag their change counts with the round, and ONE
    CombinePerKey after the last round sums them. A per-round global sum (and a
    side input gating later rounds on it) would add ~3 fused stages per round,
    which on small edge sets costs more than the rounds themselves. Rounds after
    the fixed point pass the edges through unchanged, so running all of them is
    correct. Outputs ``labels`` and ``convergence`` (one dict; computing it
    raises ``ComponentsNotConverged`` if the last round still changed edges).
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
                | f"R{r}LargeStar" >> beam.ParDo(_LargeStarFn(r)).with_outputs(_CHANGES, main="edges")
            )
            small = (
                large.edges
                | f"R{r}SmallKeys" >> beam.Map(larger_endpoint)
                | f"R{r}SmallGroup" >> beam.GroupByKey()
                | f"R{r}SmallStar" >> beam.ParDo(_SmallStarFn(r)).with_outputs(_CHANGES, main="edges")
            )
            changes += [large[_CHANGES], small[_CHANGES]]
            edges = small.edges
        convergence = (
            changes
            | "AllChanges" >> beam.Flatten()
            | "SumPerRound" >> beam.CombinePerKey(sum)
            | "RoundList" >> beam.combiners.ToList()
            | "CheckConverged" >> beam.Map(_check_converged, self._max_rounds)
        )
        labels = (
            edges
            | "Labels" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[1])])
            | "DistinctLabels" >> beam.Distinct()
        )
        return {"labels": labels, "convergence": convergence}


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


class _ResolveFn(beam.DoFn):
    def __init__(self, label: str, cfg: MinhashDedupConfig):
        self._label = label
        self._cfg = cfg

    def setup(self):
        self._counters = StageCounters(self._label)

    def process(self, keyed):
        _, grouped = keyed
        best, keeper_id, size = next(iter(grouped["keeper"]))
        for doc in grouped["docs"]:
            doc = {**doc, "dup_cluster": keeper_id, "dup_cluster_size": size}
            self._counters.inputs.inc()
            if keep_rank(doc, self._cfg) == best:
                self._counters.kept.inc()
                yield doc
            else:
                self._counters.drop(REASON)
                yield beam.pvalue.TaggedOutput(DROPPED, mark_rejected(Dropped(doc, REASON, keeper_id), self._label))


class _SingletonFn(beam.DoFn):
    def __init__(self, label: str):
        self._label = label

    def setup(self):
        self._counters = StageCounters(self._label)

    def process(self, doc):
        self._counters.inputs.inc()
        self._counters.kept.inc()
        yield {**doc, "dup_cluster": doc["id"], "dup_cluster_size": 1}


def _stat(pcoll, name: str, label: str):
    return pcoll | f"Stat[{label}]" >> beam.Map(lambda v, n=name: (n, v))


def _count(pcoll, label: str):
    return pcoll | f"Count[{label}]" >> beam.combiners.Count.Globally()


def _sum(pcoll, label: str):
    return pcoll | f"Sum[{label}]" >> beam.CombineGlobally(sum)


class MinhashDedup(beam.PTransform):
    def __init__(self, label: str, cfg: MinhashDedupConfig | None = None):
        super().__init__(label)
        self._stage_label = label
        self._cfg = cfg or MinhashDedupConfig()

    def expand(self, docs):
        cfg, label = self._cfg, self._stage_label
        sig = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=cfg.batch_size)
            | "Signatures" >> beam.ParDo(_SignatureFn(cfg)).with_outputs("empty", "shingles", main="sigs")
        )
        buckets = (
            sig.sigs
            | "BandKeys" >> beam.FlatMap(
                lambda kv: ((key, kv[0]) for key in band_keys(np.frombuffer(kv[1], np.uint64), cfg.bands, cfg.rows))
            )
            | "Buckets" >> beam.GroupByKey()
            | "StarEdges" >> beam.ParDo(_StarEdgesFn(cfg.max_bucket_size)).with_outputs("giant", main="edges")
        )
        candidates = buckets.edges | "DistinctEdges" >> beam.Distinct()
        stats = [
            _stat(_count(candidates, "candidates"), "candidate_edges", "candidates"),
            _stat(_count(buckets.giant, "giant"), "giant_buckets_skipped", "giant"),
            _stat(_sum(buckets.giant, "giant_docs"), "giant_bucket_members", "giant_docs"),
            _stat(_count(sig.empty, "empty"), "docs_without_shingles", "empty"),
            docs.pipeline
            | "Params" >> beam.Create([("bands_rows", [cfg.bands, cfg.rows]), ("threshold", cfg.threshold)]),
        ]
        edges = candidates
        if cfg.verify != "none":
            payload = sig.sigs if cfg.verify == "signature" else sig.shingles
            threshold = cfg.verify_threshold or cfg.threshold
            with_m = (
                {"edges": candidates | "ByMin" >> beam.Map(lambda e: (e[1], e[0])), "payload": payload}
                | "JoinMin" >> beam.CoGroupByKey()
                | "AttachMin" >> beam.FlatMap(_attach_first)
            )
            verified = (
                {"edges": with_m, "payload": payload}
                | "JoinMember" >> beam.CoGroupByKey()
                | "Verify" >> beam.ParDo(_VerifyFn(cfg.verify, threshold)).with_outputs("rejected", main="edges")
            )
            edges = verified.edges
            stats.append(_stat(_count(verified.rejected, "rejected"), "rejected_edges", "rejected"))
        stats.append(_stat(_count(edges, "verified"), "verified_edges", "verified"))

        cc = edges | "Components" >> StarComponents(cfg.max_rounds)
        stats.append(cc["convergence"] | "Convergence" >> beam.FlatMap(lambda d: list(d.items())))

        labelled = (
            {"doc": docs | "KeyById" >> beam.Map(lambda d: (d["id"], d)), "root": cc["labels"]}
            | "JoinLabels" >> beam.CoGroupByKey()
            | "Split" >> beam.FlatMap(_split_labelled).with_outputs("clustered", main="single")
        )
        keepers = (
            labelled.clustered
            | "Rank" >> beam.Map(lambda kv: (kv[0], (keep_rank(kv[1], cfg), kv[1]["id"])))
            | "Keeper" >> beam.CombinePerKey(_KeeperCombine())
        )
        resolved = (
            {"docs": labelled.clustered, "keeper": keepers}
            | "JoinKeeper" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(_ResolveFn(label, cfg)).with_outputs(DROPPED, main=KEPT)
        )
        singles = labelled.single | "Singletons" >> beam.ParDo(_SingletonFn(label))
        sizes = keepers | "Sizes" >> beam.Map(lambda kv: kv[1][2])
        stats += [
            _stat(_count(sizes, "clusters"), "clusters", "clusters"),
            _stat(_count(resolved[DROPPED], "dropped"), "near_duplicates_dropped", "dropped"),
            sizes
            | "SizeBins" >> beam.Map(size_bin)
            | "CountBins" >> beam.combiners.Count.PerElement()
            | "BinDict" >> beam.combiners.ToDict()
            | "Histogram" >> beam.Map(lambda d: ("cluster_size_histogram", _sorted_bins(d))),
        ]
        kept = (resolved[KEPT], singles) | "AllKept" >> beam.Flatten()
        return StageOutputs(kept, resolved[DROPPED], stats=stats | "AllStats" >> beam.Flatten())
