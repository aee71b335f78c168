"""language_id + heuristic_filters as configured stages on Beam's FnApiRunner, read back from Parquet."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.support.corpora import run_config, write_jsonl
from tests.support.quality_data import mixed_texts
from transforms.core.model_files import file_sha256
from transforms.quality.language_id import default_model_path


@pytest.mark.slow
def test_quality_stages_in_a_run(tmp_path):
    texts = mixed_texts(per_source=6, max_chars=6000)
    write_jsonl(tmp_path / "in.jsonl", [json.dumps({"id": i, "text": t}).encode() for i, t in texts])
    out = tmp_path / "out"
    manifest = run_config({
        "input": {"paths": [str(tmp_path / "in.jsonl")]},
        "output": {"dir": str(out)},
        "stages": [{"language_id": {"languages": ["en"]}}, {"heuristic_filters": {"fineweb_quality": {"enabled": False}}}],
    }, tmp_path)
    assert manifest["status"] == "ok"
    _, lid, heur = manifest["ledger"]
    assert lid["in"] == len(texts) and lid["dropped"] >= 6  # the 6 German/other Debian sections at least
    assert all(r.startswith(("lang:", "lang_low_score:")) for r in lid["reasons"])
    assert heur["in"] == lid["kept"] and heur["kept"] > 0
    assert all(r.split(":")[0] in {"gopher_repetition", "gopher_quality", "c4_quality"} for r in heur["reasons"])
    stats = manifest["stage_stats"]["language_id"]
    assert stats["model_sha256"] == file_sha256(default_model_path())

    rows = pq.read_table(out / "data").to_pylist()
    assert len(rows) == heur["kept"]
    for row in rows:
        assert row["lang"] == "en" and row["lang_score"] > 0.65
        names = {s["name"] for s in row["signals"]}
        assert {"words", "mean_word_length"} <= names
    rejected = pq.read_table(out / "rejected").to_pylist()
    assert {r["reject_stage"] for r in rejected} >= {"language_id", "heuristic_filters"}
