"""cluster_select on real runs (MiniLM embeddings, faiss k-means, FnApiRunner): exact counts, quotas, exclusions,
the catalogue, and the same ids on one worker and two."""
from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipelines.config import ConfigError, config_from_dict
from tests.support.corpora import REPO, SAMPLE_DIR, run_config
from transforms.core.text_hash import stable_bucket
from transforms.selection.quotas import equal_quotas, proportional_quotas

INPUTS = [str(SAMPLE_DIR / "sonnets.jsonl"), str(SAMPLE_DIR / "licenses.jsonl.zst")]
K = 4


def _run(out, inputs=INPUTS, runner=None, **select) -> dict:
    stage = {"clusters": K, "embedding": {"max_seq_length": 48, "batch_size": 64}, **select}
    raw = {"input": {"paths": inputs}, "output": {"dir": str(out)}, "stages": [{"cluster_select": stage}]}
    if runner:
        raw["runner"] = runner
    manifest = run_config(raw, REPO)
    kept = pq.read_table(out / "data").to_pylist()
    rejected = [r for r in pq.read_table(out / "rejected").to_pylist() if r["reject_stage"] == "cluster_select"]
    return {"manifest": manifest, "stats": manifest["stage_stats"]["cluster_select"], "kept": kept,
            "rejected": rejected, "dir": out}


def _per_cluster(rows) -> dict[int, int]:
    return dict(Counter(r["cluster_id"] for r in rows))


@pytest.fixture(scope="module")
def equal_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("select") / "out", target_docs=40)


def test_keeps_exactly_the_target_with_equal_shares_and_the_smallest_seeded_hashes(equal_run):
    stats, kept, rejected = equal_run["stats"], equal_run["kept"], equal_run["rejected"]
    assert len(kept) == 40 == stats["selected"] == equal_run["manifest"]["totals"]["kept_rows"]
    sizes = dict(enumerate(stats["cluster_sizes"]))
    assert stats["quotas"] == [equal_quotas(sizes, 40)[c] for c in range(K)] == [10, 10, 10, 10]
    assert _per_cluster(kept) == {c: 10 for c in range(K)}
    assert {r["reject_reason"] for r in rejected} == {"not_selected"}
    assert all(r["cluster_id"] is not None for r in kept + rejected)
    assert len(kept) + len(rejected) == sum(stats["cluster_sizes"])
    for c in range(K):  # within a cluster: the quota smallest hashes of (seed 0, id)
        key = lambda r: (stable_bucket(f"0:select:{r['id']}", 1 << 62), r["id"])  # noqa: E731
        members = sorted((r for r in kept + rejected if r["cluster_id"] == c), key=key)
        assert {r["id"] for r in members[:10]} == {r["id"] for r in kept if r["cluster_id"] == c}


def test_catalogue_in_the_manifest_and_on_the_command_line(equal_run, capsys):
    from pipelines.cli import main

    catalogue = equal_run["stats"]["catalogue"]
    assert [e["cluster"] for e in catalogue] == list(range(K))
    for e in catalogue:
        assert len(e["nearest"]) == 5 and all(len(n["text"]) <= 300 for n in e["nearest"])
        assert [n["cosine"] for n in e["nearest"]] == sorted((n["cosine"] for n in e["nearest"]), reverse=True)
        assert e["terms"] and e["share"] == pytest.approx(e["docs"] / sum(x["docs"] for x in catalogue), abs=1e-4)
    sonnet_clusters = [e for e in catalogue if {"thy", "thou", "thee"} & set(e["terms"])]
    assert 0 < len(sonnet_clusters) < K  # the sonnets and the licenses do not share clusters
    assert len(equal_run["stats"]["centroid_map"]) == K
    assert (equal_run["dir"] / "report" / "cluster_map.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["clusters", str(equal_run["dir"])]) == 0
    printed = capsys.readouterr().out
    assert "k=4, target 40" in printed and "| 3 |" in printed and catalogue[0]["nearest"][0]["id"] in printed


def test_an_excluded_cluster_gives_nothing_and_small_clusters_share_their_shortfall(equal_run, tmp_path):
    sizes = dict(enumerate(equal_run["stats"]["cluster_sizes"]))
    gone = max(sizes, key=lambda c: (sizes[c], c))
    rest = {c: n for c, n in sizes.items() if c != gone}
    target = sum(rest.values()) - 3  # equal shares exceed the smaller clusters: they give all they hold
    run = _run(tmp_path / "out", target_docs=target, exclude_clusters=[gone])
    quotas = equal_quotas(rest, target)
    assert any(quotas[c] == rest[c] for c in rest) and any(quotas[c] < rest[c] for c in rest)
    assert len(run["kept"]) == target and _per_cluster(run["kept"]) == {c: q for c, q in quotas.items() if q}
    reasons = Counter(r["reject_reason"] for r in run["rejected"])
    assert reasons == {f"cluster_excluded:{gone}": sizes[gone], "not_selected": 3}
    assert run["stats"]["excluded"] == {str(gone): "exclude_clusters"}


def test_proportional_quotas_and_a_target_fraction(tmp_path):
    run = _run(tmp_path / "out", INPUTS[:1], target_fraction=0.25, per_cluster="proportional")
    sizes = dict(enumerate(run["stats"]["cluster_sizes"]))
    target = round(0.25 * sum(sizes.values()))
    assert len(run["kept"]) == target
    assert _per_cluster(run["kept"]) == {c: q for c, q in proportional_quotas(sizes, target).items() if q}


def test_a_target_larger_than_the_corpus_keeps_everything_and_says_so(tmp_path):
    from pipelines.run import run

    raw = {"input": {"paths": INPUTS[:1]}, "output": {"dir": str(tmp_path / "out")},
           "stages": [{"cluster_select": {"clusters": 2, "target_docs": 10_000, "embedding": {"max_seq_length": 32}}}]}
    lines = []
    manifest = run(config_from_dict(raw, str(REPO)), [], log=lines.append)
    stats = manifest["stage_stats"]["cluster_select"]
    assert manifest["totals"]["kept_rows"] == stats["available"] == sum(stats["cluster_sizes"]) > 100
    assert any("warning: cluster_select: target 10,000 documents" in line for line in lines)
    assert stats["warnings"] and "all of them are kept" in stats["warnings"][0]


def test_impossible_settings_fail_before_anything_runs(tmp_path):
    for stage, message in (({"clusters": 4, "target_docs": 5, "exclude_clusters": [4]}, r"exclude_clusters \[4\]"),
                           ({"clusters": 4}, "exactly one of target_docs and target_fraction")):
        raw = {"input": {"paths": INPUTS}, "output": {"dir": str(tmp_path)}, "stages": [{"cluster_select": stage}]}
        with pytest.raises(ConfigError, match=message):
            config_from_dict(raw, str(REPO))


@pytest.mark.slow
def test_the_same_ids_on_one_worker_and_two(equal_run, tmp_path):
    runner = {"name": "FnApiRunner", "options": {"direct_num_workers": 2, "direct_running_mode": "multi_processing"}}
    two = _run(tmp_path / "out", INPUTS, runner, target_docs=40)
    assert sorted(r["id"] for r in two["kept"]) == sorted(r["id"] for r in equal_run["kept"])
    assert json.dumps(two["stats"]["catalogue"]) == json.dumps(equal_run["stats"]["catalogue"])


def test_icp_order_after_cluster_select_reuses_the_embeddings(tmp_path):
    embedding = {"max_seq_length": 32, "batch_size": 64}
    raw = {"input": {"paths": INPUTS[:1]}, "output": {"dir": str(tmp_path / "out")},
           "stages": [{"cluster_select": {"clusters": 2, "target_docs": 60, "embedding": embedding}},
                      {"icp_order": {"clusters": 1, "context_tokens": 256, "knn": {"k": 8}, "embedding": embedding}}]}
    manifest = run_config(raw, REPO)
    counters = manifest["beam_counters"]
    docs_in = manifest["ledger"][1]["in"]
    assert counters["embeddings/computed"] == docs_in and counters["embeddings/reused"] == 60
    table = pq.read_table(tmp_path / "out" / "data")
    assert table.num_rows == 60 and table.column("cluster_id").null_count == 0
    assert table.column("context_id").null_count == 0
