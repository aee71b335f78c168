"""The ``minhash_dedup`` stage: MinHash LSH near-duplicate removal, distributed end to end.

``MinhashDedup`` only composes its steps, one module each:

    docs → SpillDocuments (``transforms.io.spill``: parked on disk once, with id and rank beside them)
    docs → Signatures (``minhash_signatures``: batched numba kernels → band keys, written to runs on disk)
         → BandCandidates (``lsh_candidates``: LSH buckets → star edges; giant buckets skipped)
         → CandidateDocs (``candidate_docs``: parked ids and ranks read back; ranks of endpoints; payloads to runs)
         → VerifyEdges (``verify_edges``: exact or estimated Jaccard, star by star; optional)
         → StarComponents (``star_components``: large-star/small-star rounds) → (id, root)
         → ChooseKeepers (``cluster_keepers``: keeper per root, CombinePerKey) → id → (keeper, size)
    spilled docs read back past that map (``cluster_keepers.decide``) → kept / dropped ``near_duplicate``

The two biggest groupings, band keys by bucket and candidates' payloads by star
center, go through files (``transforms.core.keyed_runs``: runs sorted by a
64-bit key, read back one key range at a time), because the local runner would
hold them whole: gigabytes at a million documents. The rest are
GroupByKey/CoGroupByKey/CombinePerKey keyed by node, id or root over edges and
ranks; the documents themselves are never grouped. Every count (edges at each step, per-round
changes, cluster sizes) meets in one CombinePerKey, and ``stage_stats`` turns the
sums into the stage's stats, the convergence check and the lost-element check. datatrove instead merges all duplicate
pairs with union-find in one process, which is why it is not reused here.
"""
from __future__ import annotations

import functools
import math
from typing import Literal

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.core.bundle_counts import CountInBundle
from transforms.core.outcomes import DROPPED, KEPT
from transforms.core.runner import RouteByDecision, StageOutputs
from transforms.dedup.candidate_docs import CandidateDocs, ShinglePayload, candidate_keys
from transforms.dedup.cluster_keepers import ChooseKeepers, decide
from transforms.dedup.lsh_candidates import BandCandidates
from transforms.dedup.minhash_kernels import choose_bands
from transforms.dedup.minhash_signatures import Signatures, Signer
from transforms.dedup.shingles import ShingleSpec
from transforms.dedup.star_components import StarComponents, convergence
from transforms.dedup.verify_edges import VerifyEdges
from transforms.io.spill import ReadSpilled, SpillDocuments, spill_dir
from transforms.io.unique_ids import doc_order_key

REASON = "near_duplicate"


class MinhashDedupConfig(BaseModel):
    """Defaults are datatrove's MinHash: word 5-grams, 14 bands × 8 rows (112 permutations), seed 1.

    ``bands``/``rows`` null: chosen for ``threshold`` by datasketch's ``_optimal_param``.
    ``verify`` "exact" (default) keeps a candidate edge only if the exact Jaccard of the
    two documents' shingle sets reaches ``verify_threshold`` (default ``threshold``);
    "signature" uses the MinHash estimate instead (candidates are re-signed where they are
    read back; a signature is smaller than a shingle set, but an estimate from 112 values
    has a standard error of ~0.04 at J=0.8); "none" trusts every LSH candidate. Rejected
    edges are counted in ``rejected_edges``.
    ``max_rounds`` 10 covers chains of ~1,000 near-duplicates (random ids: 9 rounds)
    and random graphs of any size tried (5 rounds); every round is two shuffles in the
    graph, but the rounds from two after the last change on get no edges, and an
    unconverged run fails loudly naming this key.
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
    order = doc_order_key(doc)
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


def lost_element_problems(counts: dict) -> list[str]:
    """Every row written to runs is read back, every candidate edge is verified or rejected, and every
    clustered id reaches its keeper; a difference means elements were lost.

    FnApiRunner (multi_processing) was seen to drop elements of large multi-input
    groupings at a million documents: candidate edges then vanish without being
    rejected, and documents that should be dropped are kept, which no document
    ledger can see. ``ChooseKeepers``' two joins are the same kind of grouping, so
    the ids they see are counted too, and so are the rows of the runs on disk
    (``keyed_runs``), where a run missed by the range reads would lose buckets
    or stars as silently. The run fails on any of it instead
    (``problems`` → ``LedgerError``).
    """
    problems = []
    for written, read, what in (("band_keys_written", "band_keys_read", "band keys"),
                                ("payloads_written", "payloads_read", "candidate payloads")):
        if counts.get(written, 0) != counts.get(read, 0):
            problems.append(f"minhash_dedup: {counts.get(written, 0):,} {what} written to runs but "
                            f"{counts.get(read, 0):,} read back: rows were lost between the files and their "
                            "readers, so some near-duplicates would be kept")
    candidates, verified = counts.get("candidate_edges", 0), counts.get("verified_edges", 0)
    rejected = counts.get("rejected_edges", 0)
    if candidates != verified + rejected:
        problems.append(f"minhash_dedup: {candidates:,} candidate edges but {verified:,} verified + "
                        f"{rejected:,} rejected: the runner lost edges, so some near-duplicates would be kept")
    clustered = counts.get("clustered_docs", 0)
    for name, what in (("ranked_members", "ranked for their keeper"), ("decided_docs", "told their keeper")):
        if counts.get(name, 0) != clustered:
            problems.append(f"minhash_dedup: {clustered:,} clustered documents but {counts.get(name, 0):,} {what}: "
                            "the runner lost elements, so some near-duplicates would be kept")
    return problems


HISTOGRAM = "cluster_size_histogram"


def _counted(pcoll, name: str, value=None):
    """``(name, n)`` per bundle: how many elements, or the sum of ``value(element)``; one input of the
    stage's single sum (``bundle_counts``: only partial sums cross its Flatten)."""
    return pcoll | f"Count[{name}]" >> beam.ParDo(CountInBundle(lambda _, n=name: n, value))


def stage_stats(counts: dict, cfg: MinhashDedupConfig) -> dict:
    """The stage's stats from its summed counts (a name with no entry counted nothing).

    Raises ``ComponentsNotConverged`` if the last round still changed edges; a
    lost element becomes a ``problems`` entry, which fails the run.
    """
    names = ["candidate_edges", "giant_buckets_skipped", "giant_bucket_members", "docs_without_shingles"]
    names += ["rejected_edges"] if cfg.verify != "none" else []
    names += ["verified_edges", "clusters", "clustered_docs", "near_duplicates_dropped"]
    stats = {name: counts.get(name, 0) for name in names}
    # What went to runs on disk (``keyed_runs``): the stage's scratch beside the parked documents.
    stats["band_keys"] = counts.get("band_keys_written", 0)
    if cfg.verify != "none":
        stats["candidate_payloads"] = counts.get("payloads_written", 0)
    bins = {k.split("/", 1)[1]: v for k, v in counts.items() if k.startswith(HISTOGRAM + "/")}
    stats[HISTOGRAM] = _sorted_bins(bins)
    stats.update(bands_rows=[cfg.bands, cfg.rows], threshold=cfg.threshold)
    stats.update(convergence(counts, cfg.max_rounds))
    problems = lost_element_problems(counts)
    if problems:
        stats["problems"] = problems
    return stats


class MinhashDedup(beam.PTransform):
    """Docs → ``kept``, ``dropped`` (``near_duplicate``, with the keeper's id), an empty
    ``quarantined`` and ``stats`` (clusters, histogram, edges at each step, rounds)."""

    def __init__(self, label: str, cfg: MinhashDedupConfig | None, work_dir: str):
        super().__init__(label)
        self._stage_label = label
        self._cfg = cfg or MinhashDedupConfig()
        self._spill = spill_dir(work_dir, label)
        self._bands = spill_dir(work_dir, label, "bands")
        self._payloads = spill_dir(work_dir, label, "payloads")

    def expand(self, docs):
        cfg = self._cfg
        rank = functools.partial(keep_rank, cfg=cfg)
        spilled = docs | "Spill" >> SpillDocuments(self._spill, candidate_keys(rank))
        signer = Signer(cfg.spec, cfg.num_perm, cfg.seed, cfg.signature)
        sig = docs | "Signatures" >> Signatures(signer, cfg.bands, cfg.rows, self._bands, cfg.batch_size)
        candidates = sig["bands"] | "BandCandidates" >> BandCandidates(cfg.max_bucket_size)
        edges = candidates["edges"]
        payload = {"exact": ShinglePayload(cfg.spec), "signature": signer.payloads, "none": None}[cfg.verify]
        endpoints = {"parked": spilled, "edges": edges} | "CandidateDocs" >> CandidateDocs(payload, self._payloads)
        giant = candidates["giant"]
        counts = [
            _counted(sig["bands"], "band_keys_written", lambda run: run["rows"]),
            _counted(candidates["ranges"], "band_keys_read", lambda table: table.num_rows),
            _counted(edges, "candidate_edges"),
            _counted(giant, "giant_buckets_skipped"),
            _counted(giant, "giant_bucket_members", int),
            _counted(sig["empty"], "docs_without_shingles"),
        ]
        if cfg.verify != "none":
            verified = endpoints["payload_runs"] | "VerifyEdges" >> VerifyEdges(
                cfg.verify, cfg.verify_threshold or cfg.threshold
            )
            edges = verified["edges"]
            counts += [
                _counted(verified["rejected"], "rejected_edges"),
                _counted(endpoints["payload_runs"], "payloads_written", lambda run: run["rows"]),
                _counted(verified["ranges"], "payloads_read", lambda table: table.num_rows),
            ]
        counts.append(_counted(edges, "verified_edges"))

        cc = edges | "Components" >> StarComponents(cfg.max_rounds)
        chosen = {"labels": cc["labels"], "ranks": endpoints["ranks"]} | "ChooseKeepers" >> ChooseKeepers()
        decided = (
            spilled
            | "ReadBack" >> ReadSpilled()
            | "Apply" >> beam.ParDo(RouteByDecision(self._stage_label, functools.partial(decide, reason=REASON)),
                                    beam.pvalue.AsDict(chosen["decisions"])).with_outputs(DROPPED, main=KEPT)
        )
        keepers = chosen["keepers"]  # (root, (best rank, keeper id, cluster size))
        counts += [
            cc["changes"],
            _counted(cc["labels"], "clustered_docs"),
            _counted(keepers, "clusters"),
            _counted(keepers, "ranked_members", lambda kv: kv[1][2]),  # only to prove no join lost an id
            _counted(chosen["decisions"], "decided_docs"),  # likewise
            keepers | "SizeBins" >> beam.ParDo(CountInBundle(lambda kv: f"{HISTOGRAM}/{size_bin(kv[1][2])}")),
            _counted(decided[DROPPED], "near_duplicates_dropped"),
        ]
        # One sum for every count (a global combine is a GroupByKey of its own, and there were ~15).
        stats = (
            counts
            | "Counts" >> beam.Flatten()
            | "SumCounts" >> beam.CombinePerKey(sum)
            | "CountsDict" >> beam.combiners.ToDict()
            | "Stats" >> beam.FlatMap(lambda summed: stage_stats(summed, cfg).items())
        )
        return StageOutputs(decided[KEPT], decided[DROPPED], stats=stats)
