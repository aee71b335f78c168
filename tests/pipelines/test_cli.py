"""The console script as a user runs it: clear one-line errors, run, inspect."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.corpora import REPO, write_jsonl


def corpusmill(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, cwd=cwd or REPO, timeout=300
    )


@pytest.mark.slow
def test_invalid_config_is_one_clear_error(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"paths": ["x"]}, "output": {"dir": "o", "shard_rows": 0}}))
    result = corpusmill("validate", str(cfg))
    assert result.returncode == 1
    assert result.stderr.startswith("corpusmill: error: ")
    assert "output.shard_rows = 0: Input should be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_missing_input_fails_before_running(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"paths": ["nothing/*.jsonl"]}, "output": {"dir": "o"}}))
    result = corpusmill("run", str(cfg))
    assert result.returncode == 1 and "matches no files" in result.stderr
    debug = corpusmill("--debug", "run", str(cfg))
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@pytest.mark.slow
def test_missing_model_file_fails_before_running_and_says_how_to_make_it(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": "one document"}).encode()])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"paths": ["in.jsonl"]}, "output": {"dir": "out"}, "stages": [
        {"quality_classifier": {"model_path": "models/q.bin", "threshold": 0.5}}]}))
    for command in ("validate", "run"):
        result = corpusmill(command, str(cfg))
        assert result.returncode == 1, result.stderr
        assert "stages.quality_classifier.model_path = 'models/q.bin': not found" in result.stderr
        assert "corpusmill train-quality" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.mark.slow
def test_dataflow_run_naming_local_paths_is_refused_before_submitting(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": "one document"}).encode()])
    (tmp_path / "q.bin").write_bytes(b"a model")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"paths": ["in.jsonl"]}, "output": {"dir": "out"}, "stages": [
        {"quality_classifier": {"model_path": "q.bin", "threshold": 0.5}}]}))
    result = corpusmill("validate", str(cfg), "--set", "runner.name=DataflowRunner")
    assert result.returncode == 1 and "a local path; DataflowRunner workers cannot" in result.stderr
    assert "output.dir" in result.stderr
    remote_io = ["--input", "gs://bucket/in/*.jsonl", "--output", "gs://bucket/out"]
    result = corpusmill("run", str(cfg), *remote_io, "--", "--runner", "DataflowRunner")
    assert result.returncode == 1
    assert "stages.quality_classifier.model_path = 'q.bin': a local file; DataflowRunner" in result.stderr


@pytest.mark.slow
def test_run_with_overrides_then_inspect(tmp_path, stdlib_docs):
    write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": t}).encode() for t in stdlib_docs[:12]] + [b"{oops"])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"paths": ["in.jsonl"]}, "output": {"dir": "out"}, "stages": ["exact_dedup"]}))
    result = corpusmill("run", str(cfg), "--set", "output.shard_rows=5", "--output", str(tmp_path / "o2"))
    assert result.returncode == 0, result.stderr
    assert "12 kept in 3 shard(s), 1 rejected" in result.stdout
    shown = corpusmill("inspect", str(tmp_path / "o2"))
    assert shown.returncode == 0
    assert "rows: 12 kept in 3 shard(s)" in shown.stdout
    assert "| normalize | 13 | 12 | 0 | 1 | error:malformed_json (1) |" in shown.stdout
    assert "provenance: list<element: struct<stage: string" in shown.stdout
    as_json = json.loads(corpusmill("inspect", str(tmp_path / "o2"), "--json").stdout)
    assert as_json["totals"]["kept_rows"] == 12
    assert not Path(tmp_path / "out").exists()


@pytest.mark.slow
def test_console_script_prints_nothing_on_stderr_for_help_and_validate(tmp_path):
    """Beam logs a warning on import (apitools); the console must not show it, whatever imports Beam first."""
    script = Path(sys.executable).parent / "corpusmill"  # the [project.scripts] entry point, as installed
    model = tmp_path / "q.bin"
    model.write_bytes(b"a model file")  # validate checks that it exists; nothing loads it
    runs = [
        [script, "--help"],
        [script, "validate", REPO / "configs" / "icp.yaml"],
        [script, "validate", REPO / "configs" / "demo.yaml", "--set", f"stages.quality_classifier.model_path={model}"],
    ]
    for args in runs:
        result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", args
        assert result.stdout
