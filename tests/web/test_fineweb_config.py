"""configs/fineweb.yaml on the bundled crawl: every fetch accounted for, at the step FineWeb's chain drops it."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.support.corpora import run_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_fineweb_chain_accounts_for_every_fetch_of_the_bundled_crawl(tmp_path):
    raw = yaml.safe_load((REPO / "configs" / "fineweb.yaml").read_text())
    raw["output"]["dir"] = str(tmp_path / "out")
    manifest = run_config(raw, REPO / "configs")
    ledger = {row["stage"]: row for row in manifest["ledger"]}
    assert ledger["normalize"]["in"] == 176  # responses; warcinfo and request records are not documents
    assert ledger["normalize"]["reasons"] == {"warc_not_html": 2, "warc_status:301": 1, "warc_status:404": 1}
    assert ledger["url_filter"]["reasons"] == {"user_domain": 3}  # the mirror host the config blocks
    languages = ledger["language_id"]["reasons"]
    # the cp1252 page with no declared charset is decoded, and identified as German like the other three
    assert (languages["lang:de"], languages["lang:fr"], languages["lang:ja"]) == (4, 4, 4)
    assert ledger["minhash_dedup"]["dropped"] >= 1  # pages fetched under two URLs, where both survive the filters
    assert not any(row["quarantined"] for row in manifest["ledger"])
    rows = pq.read_table(tmp_path / "out" / "data").to_pylist()
    assert len(rows) == ledger["pii"]["kept"] > 0
    urls = {json.loads(r["meta"])["url"]: r for r in rows}
    assert all(url.startswith("https://docs.python.org/") for url in urls)
    assert all("<html" not in r["text"] and "<div" not in r["text"] for r in rows)  # extracted text, not HTML
    bugs = urls["https://docs.python.org/3.11/bugs.html"]  # names docs@python.org and a mailing list
    pii = [json.loads(p["detail"]) for p in bugs["provenance"] if p["stage"] == "pii"]
    assert pii and pii[0]["emails"] >= 1 and "@python.org" not in bugs["text"]
    rejected = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    gone = [r for r in rejected if r["reject_reason"] == "warc_status:404"]
    assert json.loads(gone[0]["meta"])["url"] == "https://docs.python.org/3.11/library/formatter.html"
