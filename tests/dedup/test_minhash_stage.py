"""The minhash_dedup stage on Beam (FnApiRunner): planted near-duplicates caught, components exact."""
from __future__ import annotations

import json
import random

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from tests.dedup.test_minhash_components import union_find
from tests.support.corpora import run_config, write_jsonl
from transforms.dedup.minhash_dedup import MinhashDedupConfig
from transforms.dedup.star_components import StarComponents, convergence
from transforms.dedup.star_kernels import ComponentsNotConverged, connected_components

OPTS = PipelineOptions(["--runner=FnApiRunner"])


def edit(text: str, fraction: float, seed: int) -> str:
    """Replace a fraction of the words of a real text (a near-duplicate revision)."""
    words = text.split()
    rng = random.Random(seed)
    for i in rng.sample(range(len(words)), max(1, int(len(words) * fraction))):
        words[i] = words[i][::-1] + "x"
    return " ".join(words)


@pytest.fixture()
def planted(tmp_path, stdlib_docs):
    long_docs = [d for d in stdlib_docs if len(d.split()) > 150][:30]
    base, chain_src = long_docs[0], long_docs[1]
    records = [{"id": f"u{i:03d}", "text": t} for i, t in enumerate(long_docs[2:])]
    group = [  # one revision family: a keeps, b..d dropped with kept_id a
        {"id": "g-a", "text": base},
        {"id": "g-b", "text": edit(base, 0.01, 1)},
        {"id": "g-c", "text": edit(base, 0.01, 2)},
        {"id": "g-d", "text": base + "\n\nSee also the changelog."},
    ]
    # a chain: c0 ~ c1 ~ c2 where c0 and c2 differ more; transitivity puts all in one cluster
    c1 = edit(chain_src, 0.006, 3)
    chain = [
        {"id": "c-0", "text": chain_src},
        {"id": "c-1", "text": c1},
        {"id": "c-2", "text": edit(c1, 0.006, 4)},
    ]
    punct = [{"id": "p-0", "text": "!!! ... ???"}]
    rows = records + group + chain + punct
    random.Random(0).shuffle(rows)
    write_jsonl(tmp_path / "in.jsonl", [json.dumps(r).encode() for r in rows])
    import inspect

    id_of = {r["text"]: r["id"] for r in records}
    natural = (id_of[inspect.getdoc(json.dumps)], id_of[inspect.getdoc(json.dump)])  # J=0.87, a natural pair
    return {"pattern": str(tmp_path / "in.jsonl"), "n": len(rows), "n_unrelated": len(records), "natural": natural}


@pytest.mark.parametrize("verify,workers", [("signature", 1), ("exact", 1), ("exact", 2)])
def test_stage_drops_planted_duplicates(planted, tmp_path, verify, workers):
    """The same decisions on one worker and on two worker processes."""
    out = tmp_path / "out"
    raw = {
        "input": {"paths": [planted["pattern"]]},
        "output": {"dir": str(out)},
        "stages": [{"minhash_dedup": {"verify": verify, "threshold": 0.8, "max_rounds": 4}}],
    }
    if workers > 1:
        raw["runner"] = {"name": "FnApiRunner", "options": {"direct_num_workers": workers,
                                                           "direct_running_mode": "multi_processing"}}
    manifest = run_config(raw, tmp_path)
    _, stage = manifest["ledger"]
    assert stage["in"] == planted["n"]
    # the json.dumps and json.dump docstrings are a natural near-duplicate (J=0.87)
    natural_kept, natural_copy = sorted(planted["natural"])
    assert stage["reasons"] == {"near_duplicate": 6}
    rejected = {r["id"]: r for r in pq.read_table(out / "rejected").to_pylist()}
    assert set(rejected) == {"g-b", "g-c", "g-d", "c-1", "c-2", natural_copy}
    assert rejected[natural_copy]["kept_id"] == natural_kept
    assert {r["kept_id"] for k, r in rejected.items() if k.startswith("g")} == {"g-a"}
    assert {r["kept_id"] for k, r in rejected.items() if k.startswith("c")} == {"c-0"}
    kept = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    assert kept["g-a"]["dup_cluster"] == "g-a" and kept["g-a"]["dup_cluster_size"] == 4
    assert kept["c-0"]["dup_cluster_size"] == 3
    assert kept["u000"]["dup_cluster_size"] == 1
    stats = manifest["stage_stats"]["minhash_dedup"]
    assert stats["clusters"] == 3 and stats["near_duplicates_dropped"] == 6 and stats["clustered_docs"] == 9
    assert stats["cluster_size_histogram"] == {"2": 1, "3-4": 2}
    assert stats["docs_without_shingles"] == 1
    # every band key of every signed document went through the runs on disk, and every candidate's
    # payload once per star it is in (the run fails if fewer or more rows come back)
    assert stats["band_keys"] == 14 * (planted["n"] - 1)
    assert stats["candidate_payloads"] > stats["candidate_edges"]
    assert stats["verified_edges"] >= 6
    assert stats["candidate_edges"] == stats["verified_edges"] + stats["rejected_edges"]
    assert stats["rounds_used"] <= 3 and stats["changes_per_round"][-1] == 0
    # the converged star edges (one per clustered document but the keepers) left the rounds once
    assert manifest["beam_counters"]["star_components/settled_edges"] == stats["clustered_docs"] - stats["clusters"]


@pytest.mark.slow
def test_keep_highest_signal_column(tmp_path, stdlib_docs):
    base = max(stdlib_docs, key=len)
    rows = [
        {"id": "a", "text": base},
        {"id": "b", "text": edit(base, 0.005, 1)},
    ]
    write_jsonl(tmp_path / "in.jsonl", [json.dumps(r).encode() for r in rows])
    out = tmp_path / "out"
    raw = {
        "input": {"paths": [str(tmp_path / "in.jsonl")]},
        "output": {"dir": str(out)},
        "stages": [{"minhash_dedup": {"keep": "highest_signal", "keep_signal": "origin_line", "max_rounds": 3}}],
    }
    run_config(raw, tmp_path)
    kept = pq.read_table(out / "data").to_pylist()
    assert [r["id"] for r in kept] == ["b"]  # origin_line 2 > 1


@pytest.mark.slow
def test_exact_verification_rejects_and_counts_edges(planted, tmp_path):
    """verify_threshold 0.93 sits between the planted pairs' exact Jaccards: g-b, g-c
    (0.91, 0.92 to g-a) and the natural json.dump pair (0.87) are rejected and stay; g-d (0.98) and the
    chain (>= 0.94) are still dropped."""
    out = tmp_path / "out"
    raw = {
        "input": {"paths": [planted["pattern"]]},
        "output": {"dir": str(out)},
        "stages": [{"minhash_dedup": {"verify_threshold": 0.93, "max_rounds": 4}}],
    }
    manifest = run_config(raw, tmp_path)
    stats = manifest["stage_stats"]["minhash_dedup"]
    assert stats["rejected_edges"] >= 3
    assert stats["candidate_edges"] == stats["verified_edges"] + stats["rejected_edges"]
    rejected = {r["id"] for r in pq.read_table(out / "rejected").to_pylist()}
    assert rejected == {"g-d", "c-1", "c-2"}


def test_config_validation():
    assert (MinhashDedupConfig().bands, MinhashDedupConfig().rows) == (14, 8)
    assert MinhashDedupConfig().verify == "exact"
    assert (MinhashDedupConfig(bands=None, rows=None).bands, MinhashDedupConfig(bands=None, rows=None).rows) == (9, 12)
    with pytest.raises(ValueError, match="exceeds num_perm"):
        MinhashDedupConfig(bands=20, rows=8)
    with pytest.raises(ValueError, match="keep_signal"):
        MinhashDedupConfig(keep="highest_signal")


def test_beam_components_equal_union_find():
    rng = random.Random(5)
    edges = [(rng.randrange(400), rng.randrange(400)) for _ in range(300)]
    edges += [(1000 + i, 1000 + i + 1) for i in range(200)]  # a long chain
    edges = [(max(a, b), min(a, b)) for a, b in edges if a != b]
    want = sorted(union_find(edges).items())
    p = beam.Pipeline(options=OPTS)
    cc = p | beam.Create(edges) | StarComponents(12)
    assert_that(cc["labels"], equal_to(want), label="labels")
    # the chain needs several rounds, as many as the one-process oracle; the rounds
    # after the fixed point change nothing
    oracle_rounds = connected_components(edges)[1]
    assert_that(
        _summed(cc["changes"]) | beam.Map(convergence, 12) | beam.Map(_round_summary),
        equal_to([(oracle_rounds, [0] * (12 - oracle_rounds))]),
        label="converged",
    )
    assert oracle_rounds > 2
    result = p.run()
    result.wait_until_finish()
    # the converged edges (one per node but the roots) leave the loop once, two rounds after the last
    # change; the rounds after that get no edges
    counters = result.metrics().query(MetricsFilter().with_name("settled_edges"))["counters"]
    assert sum(c.result for c in counters) == len(want) - len({root for _, root in want})


def _summed(changes):
    return changes | beam.CombinePerKey(sum) | beam.combiners.ToDict()


def _round_summary(stats: dict) -> tuple:
    used = stats["rounds_used"]
    return used, stats["changes_per_round"][used:]


def test_beam_components_fail_loudly_when_bound_is_hit():
    rng = random.Random(1)
    ids = rng.sample(range(10_000), 300)
    edges = [(max(a, b), min(a, b)) for a, b in zip(ids, ids[1:])]
    with pytest.raises(Exception, match="still changed"):
        with beam.Pipeline(options=OPTS) as p:
            _ = _summed((p | beam.Create(edges) | StarComponents(1))["changes"]) | beam.Map(convergence, 1)
    assert issubclass(ComponentsNotConverged, RuntimeError)
