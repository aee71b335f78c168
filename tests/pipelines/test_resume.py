"""Resumable runs: a real SIGKILL mid-run, then --resume gives the same bytes as an uninterrupted run."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from pipelines.config import config_from_dict
from pipelines.resume import input_fingerprint, stage_keys
from tests.support.corpora import REPO, SAMPLE_DIR, run_config
from transforms.core.ledger import ledger_violations

INPUTS = [str(SAMPLE_DIR / n) for n in ("fortunes.jsonl.gz", "malformed.jsonl.zst", "licenses.jsonl.zst")]
STAGES = [{"exact_dedup": {}}, {"minhash_dedup": {}}]


def _config(out) -> dict:
    return {"input": {"paths": INPUTS}, "output": {"dir": str(out), "shard_rows": 300}, "stages": STAGES}


def _files(root, part) -> dict[str, bytes]:
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(f"{root}/{part}/*.parquet"))}


def _cli(config_path, out_log):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", str(config_path), "--resume"],
        cwd=REPO, env=env, stdout=out_log, stderr=subprocess.STDOUT, start_new_session=True,
    )


@pytest.mark.slow
def test_killed_run_resumes_to_identical_shards(tmp_path):
    reference = run_config(_config(tmp_path / "reference"), REPO)

    out = tmp_path / "resumed"
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(_config(out)))
    with open(tmp_path / "first.log", "wb") as log:
        proc = _cli(config_path, log)
        deadline = time.monotonic() + 120
        while not glob.glob(f"{out}/_stages/*/_SUCCESS.json"):
            assert proc.poll() is None, "the run ended before any stage was materialized"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(f"{out}/_stages/*/_SUCCESS.json"))
    assert not (out / "manifest.json").exists()  # killed mid-way, not after the end
    print(f"\nkilled after {done_before}; first run said:\n{(tmp_path / 'first.log').read_text()}")

    with open(tmp_path / "second.log", "wb") as log:
        assert _cli(config_path, log).wait(timeout=300) == 0
    second = (tmp_path / "second.log").read_text()
    print(f"rerun with --resume said:\n{second}")
    manifest = json.loads((out / "manifest.json").read_text())
    skipped = manifest["resume"]["skipped"]
    assert skipped and len(skipped) == len(done_before)
    for stage in skipped:
        assert f"{stage}: materialized" in second and "skipped" in second
    assert _files(out, "data") == _files(tmp_path / "reference", "data") != {}
    assert _files(out, "rejected") == _files(tmp_path / "reference", "rejected") != {}
    assert manifest["status"] == "ok" and ledger_violations(manifest["ledger"]) == []
    assert manifest["ledger"] == reference["ledger"]
    print(f"identical: {sorted(_files(out, 'data'))} + {sorted(_files(out, 'rejected'))}; ledger "
          + ", ".join(f"{e['stage']} {e['in']}→{e['kept']}" for e in manifest["ledger"]))


def test_keys_change_from_the_changed_stage_down(tmp_path):
    cfg = config_from_dict(_config(tmp_path / "out"), str(REPO))
    files = input_fingerprint(cfg)
    keys = stage_keys(cfg, files)
    assert [label for label, _ in keys] == ["normalize", "exact_dedup", "minhash_dedup"]
    assert stage_keys(cfg, files) == keys  # stable
    tuned = config_from_dict({**_config(tmp_path / "out"), "stages": [{"exact_dedup": {}}, {"minhash_dedup": {"threshold": 0.7}}]}, str(REPO))
    changed = stage_keys(tuned, files)
    assert changed[:2] == keys[:2] and changed[2] != keys[2]
    touched = [[path, size + 1, mtime] for path, size, mtime in files]
    assert all(a[1] != b[1] for a, b in zip(stage_keys(cfg, touched), keys))
