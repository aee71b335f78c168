"""Release builds from real runs: validation, immutability, HF loading, CHANGELOG."""
from __future__ import annotations

import hashlib
import io
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.release import ReleaseError, cut_release
from schemas import DOCUMENT_SCHEMA
from tests.support.corpora import REPO, SAMPLE_DIR, run_config
from transforms.outputs.release_card import hf_features


@pytest.fixture(scope="module")
def first_release(curated_run, tmp_path_factory):
    dest = tmp_path_factory.mktemp("releases") / "curated"
    lines: list[str] = []
    target = cut_release(str(curated_run["dir"]), "curated", "0.1.0", str(dest), log=lines.append)
    return {"dest": dest, "target": target, "lines": lines}


def test_release_validates_and_loads_with_hf_datasets(first_release, curated_run):
    from datasets import Features, load_dataset

    checks = [line for line in first_release["lines"] if line.startswith(("PASS", "FAIL"))]
    assert len(checks) == 6 and all(line.startswith("PASS") for line in checks)
    rows = curated_run["manifest"]["totals"]["kept_rows"]
    ds = load_dataset(first_release["target"], split="train")
    assert ds.num_rows == rows
    card = open(f"{first_release['target']}/README.md", encoding="utf-8").read()
    header = yaml.safe_load(card.split("---\n")[1])
    assert Features._from_yaml_list(header["dataset_info"]["features"]) == Features.from_arrow_schema(DOCUMENT_SCHEMA)
    assert header["dataset_info"]["splits"][0]["num_examples"] == rows
    release = json.load(open(f"{first_release['target']}/manifest.json"))["release"]
    assert sum(s["rows"] for s in release["sources"].values()) == rows
    assert release["tokens"] == sum(s["tokens"] for s in release["sources"].values()) > rows
    assert release["sources"]["fortunes"]["licenses"] == {"BSD-3-Clause": release["sources"]["fortunes"]["rows"]}
    assert "![ledger.png](report/ledger.png)" in card and "## Sources and licenses" in card
    plots = [line for line in card.splitlines() if line.startswith("![")]
    assert plots[0] == "![ledger.png](report/ledger.png)" and "![dedup_clusters.png](report/dedup_clusters.png)" in plots
    for line in open(f"{first_release['target']}/SHA256SUMS"):
        digest, rel = line.split()
        assert hashlib.sha256(open(f"{first_release['target']}/{rel}", "rb").read()).hexdigest() == digest


def test_hf_features_match_datasets_for_nested_types():
    from datasets import Features

    schema = pa.schema([("m", pa.list_(pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))]))),
                        ("s", pa.struct([("x", pa.float32())])), ("raw", pa.binary())])
    assert Features._from_yaml_list(hf_features(schema)) == Features.from_arrow_schema(schema)


def test_an_existing_version_is_never_overwritten(first_release, curated_run):
    before = open(f"{first_release['target']}/SHA256SUMS").read()
    with pytest.raises(ReleaseError, match="already exists"):
        cut_release(str(curated_run["dir"]), "curated", "0.1.0", str(first_release["dest"]), log=lambda *_: None)
    assert open(f"{first_release['target']}/SHA256SUMS").read() == before
    with pytest.raises(ReleaseError, match="X.Y.Z"):
        cut_release(str(curated_run["dir"]), "curated", "1.0", str(first_release["dest"]), log=lambda *_: None)


def _rewrite_shard(run_dir, change) -> None:
    """Change shard 0's rows and make the manifest agree, so only the row checks can object."""
    manifest = json.load(open(run_dir / "manifest.json"))
    entry = manifest["shards"][0]
    table = pq.read_table(run_dir / entry["path"])
    table = change(table)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    (run_dir / entry["path"]).write_bytes(buffer.getvalue())
    entry.update(rows=table.num_rows, bytes=len(buffer.getvalue()), sha256=hashlib.sha256(buffer.getvalue()).hexdigest())
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def test_corrupt_runs_are_refused_with_every_violation(curated_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(curated_run["dir"], run_dir)

    def duplicate_and_blank(table):
        blank = table.slice(1, 1).set_column(1, table.schema.field("text"), pa.array(["  \n "], pa.string()))
        return pa.concat_tables([table, table.slice(0, 1), blank])

    _rewrite_shard(run_dir, duplicate_and_blank)
    rejected = json.load(open(run_dir / "manifest.json"))["rejected"][0]["path"]
    (run_dir / rejected).write_bytes(b"not parquet at all")
    with pytest.raises(ReleaseError) as err:
        cut_release(str(run_dir), "bad", "0.1.0", str(tmp_path / "rel"), log=lambda *_: None)
    message = str(err.value)
    first = pq.read_table(run_dir / json.load(open(run_dir / "manifest.json"))["shards"][0]["path"]).column("id")[0].as_py()
    assert "FAIL unique ids" in message and f"id {first!r} occurs 2 times" in message
    assert "FAIL no empty text" in message
    assert "FAIL no duplicate normalized text" in message and "2 kept rows share one normalized text" in message
    assert "FAIL manifest sha256 matches" in message and f"{rejected}: sha256 differs" in message
    assert "FAIL ledger balances" in message and "but the last stage kept" in message
    assert not (tmp_path / "rel" / "0.1.0").exists()


def test_corrupt_shard_bytes_fail_checksum_and_readability(curated_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(curated_run["dir"], run_dir)
    shard = json.load(open(run_dir / "manifest.json"))["shards"][0]["path"]
    data = bytearray((run_dir / shard).read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\0" * 64
    data[-8:] = b"XXXXXXXX"  # the Parquet footer magic
    (run_dir / shard).write_bytes(bytes(data))
    with pytest.raises(ReleaseError) as err:
        cut_release(str(run_dir), "bad", "0.1.0", str(tmp_path / "rel"), log=lambda *_: None)
    assert f"{shard}: sha256 differs from the manifest" in str(err.value)
    assert f"{shard}: not readable as Parquet" in str(err.value)


def test_second_version_gets_a_changelog_entry(first_release, tmp_path):
    raw = {"input": {"paths": [str(SAMPLE_DIR / "fortunes.jsonl.gz")]}, "output": {"dir": str(tmp_path / "run2")},
           "stages": [{"exact_dedup": {}}]}
    manifest = run_config(raw, REPO)
    target = cut_release(str(tmp_path / "run2"), "curated", "0.2.0", str(first_release["dest"]), log=lambda *_: None)
    entry = open(f"{target}/CHANGELOG.md").read()
    old = json.load(open(f"{first_release['target']}/manifest.json"))["release"]
    new_rows = manifest["totals"]["kept_rows"]
    assert "## curated 0.2.0" in entry and "Compared with 0.1.0" in entry
    assert f"| rows | {old['rows']:,} | {new_rows:,} | {new_rows - old['rows']:+,}" in entry
    assert "| tokens |" in entry and "removed: common-licenses, debian-copyright" in entry
    assert "| minhash_dedup |" in entry and "| — |" in entry  # a stage that no longer ran
    history = open(first_release["dest"] / "CHANGELOG.md").read()
    assert history.index("curated 0.2.0") < history.index("curated 0.1.0")
