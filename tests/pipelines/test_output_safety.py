"""A run never clobbers or half-writes a dataset: refusal, --overwrite, kill -9, SIGTERM, leftovers, readers."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.config import config_from_dict
from pipelines.inspect import inspect_dataset
from pipelines.run import run
from tests.support.corpora import REPO, SAMPLE_DIR
from transforms.io.dataset_dir import (
    INCOMPLETE_PREFIX,
    REPLACED_PREFIX,
    DatasetExists,
    IncompleteDataset,
    read_complete_manifest,
    recover,
)

INPUTS = [str(SAMPLE_DIR / n) for n in ("fortunes.jsonl.gz", "malformed.jsonl.zst")]


def _config(out: Path, stages=None) -> dict:
    return {"input": {"paths": INPUTS}, "output": {"dir": str(out), "shard_rows": 300},
            "stages": stages if stages is not None else [{"exact_dedup": {}}, {"minhash_dedup": {}}]}


def _run(raw: dict, overwrite: bool = False) -> dict:
    return run(config_from_dict(raw, str(REPO)), [], log=lambda *_: None, overwrite=overwrite)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the dataset (hidden leftovers excluded), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not str(p.relative_to(root)).startswith(".")}


def _verify_manifest(root: Path) -> int:
    """Every file the manifest lists matches its sha256; returns how many were checked."""
    manifest = json.loads((root / "manifest.json").read_text())
    files = manifest["shards"] + manifest["rejected"]
    for f in files:
        assert hashlib.sha256((root / f["path"]).read_bytes()).hexdigest() == f["sha256"], f["path"]
    return len(files)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("safety") / "out"
    _run(_config(out))
    return out


def test_a_second_run_is_refused_and_overwrite_replaces(tmp_path):
    out = tmp_path / "out"
    _run(_config(out))
    before = _snapshot(out)
    with pytest.raises(DatasetExists, match="already holds a dataset .*--overwrite"):
        _run(_config(out, [{"exact_dedup": {}}]))
    assert _snapshot(out) == before
    manifest = _run(_config(out, [{"exact_dedup": {}}]), overwrite=True)
    assert [e["stage"] for e in manifest["ledger"]] == ["normalize", "exact_dedup"]
    assert _verify_manifest(out) >= 2
    assert not _leftovers(out)  # no leftovers after a clean run


def test_cli_refusal_is_one_line(tmp_path, finished, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_config(finished)))
    assert main(["run", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("corpusmill: error: ") and "--overwrite" in err[0]


def _cli(config: Path, log, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", str(config), *extra], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(predicate, proc, what: str, limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _staged_shards(out: Path) -> list[str]:
    return glob.glob(f"{out}/{INCOMPLETE_PREFIX}*/data/*.parquet")


def _leftovers(out: Path) -> list[str]:
    return [p for p in os.listdir(out) if p.startswith(".")]


def _interrupt(tmp_path: Path, raw: dict, until, what: str, sig: int, *extra: str) -> subprocess.Popen:
    """Start ``corpusmill run`` on ``raw`` in a fresh process group, wait for ``until()``, send ``sig``."""
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    with open(tmp_path / "run.log", "wb") as log:
        proc = _cli(config, log, *extra)
        _wait_for(until, proc, what)
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        proc.wait(timeout=120)
    return proc


@pytest.mark.slow
def test_kill_9_mid_overwrite_leaves_the_previous_dataset_intact(tmp_path):
    """Killed at the latest point before the commit: the new shards are written, the manifest is not."""
    out = tmp_path / "out"
    _run(_config(out))
    before = _snapshot(out)
    proc = _interrupt(tmp_path, _config(out, [{"exact_dedup": {}}]), lambda: _staged_shards(out),
                      "new shards were written", signal.SIGKILL, "--overwrite")
    assert proc.returncode == -signal.SIGKILL
    checked = _verify_manifest(out)
    assert _snapshot(out) == before
    read_complete_manifest(str(out))  # readers still take it
    print(f"\nkilled with new shards written: the surviving manifest's {checked} files match their sha256; "
          f"leftover: {_leftovers(out)}")
    # The next run cleans the leftover up and replaces the dataset.
    _run(_config(out, [{"exact_dedup": {}}]), overwrite=True)
    assert not _leftovers(out)
    assert _verify_manifest(out) >= 2


@pytest.mark.slow
def test_kill_9_in_a_fresh_directory_leaves_no_manifest(tmp_path):
    out = tmp_path / "fresh"
    proc = _interrupt(tmp_path, _config(out), lambda: _staged_shards(out), "shards were written", signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "manifest.json").exists() and not (out / "data").exists()
    with pytest.raises(IncompleteDataset, match="interrupted run left .*corpusmill-incomplete"):
        inspect_dataset(str(out))
    _run(_config(out))  # no --overwrite needed: nothing finished was there
    assert _verify_manifest(out) >= 2 and not _leftovers(out)


@pytest.mark.slow
def test_sigterm_mid_overwrite_keeps_the_old_dataset_and_cleans_up(tmp_path):
    out = tmp_path / "out"
    _run(_config(out))
    before = _snapshot(out)
    proc = _interrupt(tmp_path, _config(out, [{"exact_dedup": {}}]), lambda: glob.glob(f"{out}/{INCOMPLETE_PREFIX}*"),
                      "the run started writing", signal.SIGTERM, "--overwrite")
    assert proc.returncode == 130
    assert "interrupted" in (tmp_path / "run.log").read_text()
    assert _snapshot(out) == before
    assert not _leftovers(out)  # an interrupt removes its own staging


def test_a_commit_killed_half_way_is_rolled_back(tmp_path, finished):
    """The state a kill between 'old dataset moved aside' and 'new manifest in place' leaves, then recover()."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(finished, out)
    before = _snapshot(out)
    aside = out / f"{REPLACED_PREFIX}abc"
    aside.mkdir()
    for entry in ("manifest.json", "data", "rejected"):
        os.replace(out / entry, aside / entry)
    (out / "data").mkdir()  # a new run's shards already moved in, its manifest not yet
    (out / "data" / "part-00000-of-00009.parquet").write_bytes(b"new, never committed")
    with pytest.raises(IncompleteDataset, match="interrupted run left"):
        read_complete_manifest(str(out))
    said = []
    recover(str(out), log=said.append)
    assert _snapshot(out) == before and not aside.exists()
    assert said and "restored the previous dataset" in said[0]


def test_readers_refuse_a_directory_without_a_finished_dataset(tmp_path, finished):
    import shutil

    from pipelines.release import ReleaseError, cut_release

    with pytest.raises(IncompleteDataset, match="no manifest.json: not a finished corpusmill dataset"):
        inspect_dataset(str(tmp_path))
    broken = tmp_path / "broken"
    shutil.copytree(finished, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / manifest["shards"][0]["path"]).unlink()
    with pytest.raises(IncompleteDataset, match="files the manifest lists are missing"):
        inspect_dataset(str(broken))
    with pytest.raises(ReleaseError, match="files the manifest lists are missing.*release not cut"):
        cut_release(str(broken), "x", "0.1.0", to=str(tmp_path / "releases"), log=lambda *_: None)
