"""The run report: plots appear when their data exists, and the page works in a real browser."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.support.chromium import check_static_page, find_chromium
from transforms.outputs.report import build_figures, icp_figure, perplexity_figure, read_columns

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="Debian's chromium is not installed")


def test_every_run_writes_report_with_its_stage_plots(curated_run):
    report = curated_run["dir"] / "report"
    pngs = sorted(p.name for p in report.glob("*.png"))
    # dedup, language_id and heuristic_filters ran: their plots are there; no perplexity/ICP stage ran.
    assert pngs == ["dedup_clusters.png", "languages.png", "ledger.png", "quality_signals.png", "text_length.png"]
    for png in report.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (report / "index.html").read_text()
    assert "near_duplicate" in page and "lang" in page
    assert "http://" not in page and "https://" not in page  # static: nothing to fetch


def test_stage_statistics_become_plots_only_when_reported():
    perplexities = [12.5, 30.1, 44.0, 80.2, 150.9, 19.0]
    columns = {"perplexity": perplexities + [None]}
    stats = {"perplexity_filter": {"perplexity_band": [15.0, 120.0]}, "icp_order": {"adjacent_similarity": [0.2, 0.8, 0.5]}}
    assert perplexity_figure(columns, stats).png[:4] == b"\x89PNG"
    assert perplexity_figure({"perplexity": [None]}, stats) is None
    # every kept row may lie inside the band: the rejected rows' scores are what show the cut
    assert perplexity_figure({"perplexity": [None]}, stats, {"perplexity": [300.0, 410.5]}) is not None
    assert icp_figure(stats).file == "icp_similarity.png"
    binned = icp_figure({"icp_order": {"adjacent_similarity": {"bins": [0, 0.5, 1], "counts": [3, 7]}}})
    assert binned is not None
    assert icp_figure({"exact_dedup": {}}) is None
    summary = icp_figure({"icp_order": {"mean_adjacent_cosine": 0.41, "random_order_cosine": 0.12}})
    assert summary.file == "icp_similarity.png" and summary.png[:4] == b"\x89PNG"
    names = [f.file for f in build_figures({"ledger": [], "stage_stats": stats}, columns)]
    assert names == ["perplexity.png", "icp_similarity.png"]


@needs_chromium
def test_report_opens_in_headless_chromium(curated_run, tmp_path):
    screenshot = tmp_path / "report.png"
    facts = check_static_page(str(curated_run["dir"] / "report" / "index.html"), str(screenshot))
    assert len(facts["images"]) == 5
    assert facts["broken_images"] == []
    assert facts["broken_links"] == []
    assert {os.path.basename(link) for link in facts["links"]} >= {"manifest.json", "README.md", "ledger.png"}
    assert facts["screenshot_bytes"] > 50_000  # a full page of plots, not a blank viewport
    keep = os.environ.get("CORPUSMILL_ARTIFACTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(screenshot, os.path.join(keep, "report-screenshot.png"))


@needs_chromium
def test_browser_check_catches_a_missing_plot(curated_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(curated_run["dir"] / "report", copy / "report")
    (copy / "report" / "languages.png").unlink()
    facts = check_static_page(str(copy / "report" / "index.html"), str(tmp_path / "shot.png"))
    assert [os.path.basename(src) for src in facts["broken_images"]] == ["languages.png"]
    assert {os.path.basename(link) for link in facts["broken_links"]} == {"languages.png", "manifest.json", "README.md"}


def test_rejected_rows_count_toward_the_sample_only_when_scored(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rejected = pa.table({"perplexity": [None, 300.0, None, 412.0], "quality_score": [None, 0.2, None, None],
                         "text": ["a", "b", "c", "d"]})
    pq.write_table(rejected, tmp_path / "r.parquet")
    scored = read_columns(str(tmp_path), ["r.parquet"], max_rows=2, wanted=("quality_score", "perplexity"),
                          scored_only=True)
    assert scored == {"quality_score": [0.2, None], "perplexity": [300.0, 412.0]}
    assert read_columns(str(tmp_path), ["r.parquet"], max_rows=2, wanted=("perplexity",)) == {"perplexity": [None, 300.0]}


def test_input_faults_get_a_section_only_when_there_are_some():
    from transforms.outputs.report import render_html

    fault = {"file": "a<1>.jsonl.gz", "reason": "truncated_input", "bytes_read": 48331, "file_bytes": 48331,
             "records_read": 56, "detail": "compressed stream ended before its end-of-stream marker"}
    page = render_html({"stage_stats": {"normalize": {"input_faults": [fault]}}}, [], 0)
    assert "<h2>Input faults</h2>" in page
    assert ("<tr><td>a&lt;1&gt;.jsonl.gz</td><td>truncated_input</td><td>48,331</td><td>48,331</td><td>56</td>"
            "<td>compressed stream ended before its end-of-stream marker</td></tr>") in page
    assert "Input faults" not in render_html({"stage_stats": {"normalize": {}}}, [], 0)
