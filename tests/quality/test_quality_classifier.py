"""quality_classifier: train a real fastText model (clean Python docs reST vs the rendered pages' junk lines), apply it in Beam."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.cli import main
from tests.support.corpora import run_config, write_jsonl
from tests.support.quality_data import sample_records
from transforms.core.model_files import file_sha256
from transforms.core.score_then_cut import Bounds, exact_cut, grid_bounds
from transforms.quality.quality_classifier import QualityClassifierConfig
from transforms.quality.quality_training import MIN_SCORE_SPREAD, score_spread, undertrained_warning


def junk_lines(rendered: str, source: str) -> str:
    """Lines of a rendered page that are not in its reST source: navigation, sidebar, footer, rendering debris."""
    return "\n".join(line for line in rendered.splitlines() if line.strip() and line.strip() not in source)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality")
    sources = {r["url"]: r["text"] for r in sample_records("python-docs-rst/rst_sources.jsonl.zst")}
    pos, neg = [], []
    for page in sample_records("python-docs.jsonl.zst"):
        source = sources.get(page["url"])
        if source:
            pos.append(source)
            neg.append(junk_lines(page["text"], source))
    assert len(pos) > 300
    write_jsonl(tmp / "hq.jsonl", [json.dumps({"text": t}).encode() for t in pos])
    write_jsonl(tmp / "cc.jsonl", [json.dumps({"text": t}).encode() for t in neg])
    config = {
        "positive": [{"paths": ["hq.jsonl"]}], "negative": [{"paths": ["cc.jsonl"]}],
        "output": "model/quality.bin", "held_out_fraction": 0.25, "seed": 1,
        "fasttext": {"dim": 32, "bucket": 100_000, "epoch": 25, "lr": 0.5},
    }
    (tmp / "train.yaml").write_text(yaml.safe_dump(config))
    assert main(["train-quality", str(tmp / "train.yaml")]) == 0
    return tmp, pos, neg


def test_training_reports_held_out_metrics_and_sha256(trained):
    tmp, _, _ = trained
    model = tmp / "model" / "quality.bin"
    report = json.loads((tmp / "model" / "quality.bin.json").read_text())
    assert report["sha256"] == file_sha256(str(model)) == (tmp / "model" / "quality.bin.sha256").read_text().split()[0]
    assert report["held_out_docs"] >= 200
    assert report["auc"] > 0.9 and report["precision"] > 0.75 and report["recall"] > 0.85, report
    assert report["score_spread"] >= MIN_SCORE_SPREAD and undertrained_warning(report) is None, report


def test_scores_stuck_at_the_prior_are_flagged():
    stuck = {"score_spread": score_spread([0.49996, 0.5, 0.50003, 0.50001])}
    assert "barely trained" in undertrained_warning(stuck)
    assert undertrained_warning({"score_spread": score_spread([0.02, 0.3, 0.8, 0.97])}) is None


@pytest.mark.slow
@pytest.mark.parametrize("rule", [{"threshold": 0.5}, {"top_fraction": 0.5, "quantiles": "approximate"}])
def test_stage_scores_and_keeps_in_beam(trained, rule, tmp_path):
    tmp, pos, neg = trained
    docs = [{"id": f"hq{i}", "text": t} for i, t in enumerate(pos[:30])] + [{"id": f"cc{i}", "text": t} for i, t in enumerate(neg[:30])]
    write_jsonl(tmp_path / "in.jsonl", [json.dumps(d).encode() for d in docs])
    manifest = run_config({
        "input": {"paths": [str(tmp_path / "in.jsonl")]}, "output": {"dir": str(tmp_path / "out")},
        "stages": [{"quality_classifier": {"model_path": str(tmp / "model" / "quality.bin"), **rule}}],
    }, tmp_path)
    assert manifest["status"] == "ok"
    stats = manifest["stage_stats"]["quality_classifier"]
    assert stats["model_sha256"] == file_sha256(str(tmp / "model" / "quality.bin"))
    rows = pq.read_table(tmp_path / "out" / "data").to_pylist()
    kept = {r["id"] for r in rows}
    assert all(0.0 <= r["quality_score"] <= 1.0 for r in rows)
    if "top_fraction" in rule:
        assert abs(len(kept) - 30) <= 1  # the stated bound: ± (epsilon·N + N/(2(Q−1)) + 1 rank)
        assert stats["score_cut"] == min(r["quality_score"] for r in rows)
    hq_kept = sum(i.startswith("hq") for i in kept)
    assert hq_kept >= 0.75 * len(kept) and hq_kept >= 20, (hq_kept, len(kept))


def test_cuts():
    assert exact_cut([0.1, 0.9, 0.5, 0.7], 0.5) == 0.7
    assert exact_cut([0.1, 0.9, 0.5, 0.7], 0.1) == 0.9
    assert exact_cut([], 0.5) is None
    assert grid_bounds([0.0, 0.25, 0.5, 0.75, 1.0], 1.0 - 0.25, None) == Bounds(0.75, None)  # the top quarter
    with pytest.raises(Exception, match="exactly one"):
        QualityClassifierConfig.model_validate({"model_path": "m.bin", "threshold": 0.5, "top_fraction": 0.1})
