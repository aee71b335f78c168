"""The demo config on the bundled sample: the output contract, the ledger, every malformed line."""
import json

import pyarrow.parquet as pq
import pytest

from tests.support.corpora import SAMPLE_DIR


def planted_malformed_lines() -> set[tuple[str, int]]:
    """The malformed lines data/build_sample.py planted, as listed in data/sample/malformed.json."""
    listing = json.loads((SAMPLE_DIR / "malformed.json").read_text())
    return {(item["file"], item["line"]) for item in listing if item["expect"] == "quarantined"}


@pytest.mark.slow
def test_demo_writes_the_output_contract(demo_output):
    out = demo_output["dir"]
    for name in ("data", "rejected", "manifest.json", "README.md"):
        assert (out / name).exists(), name
    manifest = demo_output["manifest"]
    assert manifest["status"] == "ok" and manifest["ledger_problems"] == []
    for entry in manifest["ledger"]:
        assert entry["in"] == entry["kept"] + entry["dropped"] + entry["quarantined"]
    assert pq.read_table(out / "data").num_rows == manifest["totals"]["kept_rows"] > 100
    stages = [e["stage"] for e in manifest["ledger"]]
    assert stages == ["normalize", "exact_dedup", "minhash_dedup", "language_id", "heuristic_filters", "prox",
                      "quality_classifier"]
    packing = manifest["packing"]
    assert packing["documents"] == manifest["totals"]["kept_rows"] and packing["tokens_packed"] > 0
    assert pq.read_table(out / "buckets" / "len-00256").num_rows == packing["buckets"][0]["sequences"] > 0
    classifier = next(e for e in manifest["ledger"] if e["stage"] == "quality_classifier")
    assert 0 < classifier["dropped"] < classifier["in"] and set(classifier["reasons"]) == {"quality_below_threshold"}


@pytest.mark.slow
def test_every_malformed_sample_line_is_quarantined_with_file_line_and_error(demo_output):
    rejected = pq.read_table(demo_output["dir"] / "rejected").to_pylist()
    quarantined = {(r["origin_file"], r["origin_line"]): r for r in rejected if r["reject_outcome"] == "quarantined"}
    planted = planted_malformed_lines()
    assert planted, "the sample lists its planted malformed lines"
    assert planted <= set(quarantined)
    assert all(quarantined[key]["reject_error"] for key in planted)
