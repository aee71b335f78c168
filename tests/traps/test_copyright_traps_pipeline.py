"""copyright_traps end to end: traps written by real SmolLM2 (the session's shared engine), inserted in Beam."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from pipelines.release import ReleaseError, cut_release
from tests.support.corpora import run_config, write_jsonl
from transforms.llm.api import BackendConfig
from transforms.traps.detect import detect_from_key


def trapped_run(tmp_path, stdlib_docs, smollm2_engine, **stage) -> dict:
    docs = [{"id": f"d{i:03d}", "text": t, "source": "web" if i % 3 else "books"} for i, t in enumerate(stdlib_docs[:60])]
    write_jsonl(tmp_path / "in.jsonl", [json.dumps(d).encode() for d in docs], None)
    raw = {"input": {"paths": [str(tmp_path / "in.jsonl")], "format": "jsonl"},
           "output": {"dir": str(tmp_path / "out")},
           "stages": [{"exact_dedup": {}},
                      {"copyright_traps": {"generator": smollm2_engine.backend_config(), "lengths": [12, 20],
                                           "repetitions": [1, 6], "per_group": 2, "controls_per_group": 2,
                                           **stage}}]}
    with smollm2_engine.shared_by():
        return run_config(raw, tmp_path)


@pytest.fixture(scope="module")
def trapped(tmp_path_factory, stdlib_docs, smollm2_engine) -> dict:
    tmp_path = tmp_path_factory.mktemp("trapped")
    manifest = trapped_run(tmp_path, stdlib_docs, smollm2_engine, sources=["web"])
    key = [json.loads(line) for line in (tmp_path / "out" / "traps" / "traps.jsonl").read_text().splitlines()]
    return {"manifest": manifest, "out": tmp_path / "out", "key": key, "tmp": tmp_path}


@pytest.mark.slow
def test_traps_go_into_exactly_their_count_of_distinct_hosts_and_the_key_stays_private(trapped, smollm2_engine):
    manifest, out, key = trapped["manifest"], trapped["out"], trapped["key"]
    traps = [k for k in key if k["repetitions"]]
    controls = [k for k in key if not k["repetitions"]]
    assert len(traps) == len(controls) == 2 * 2 * 2  # per (length, repetitions) group: 2 traps, 2 controls
    assert len({k["text"] for k in key}) == len(key)  # unique
    tokenizer = AutoTokenizer.from_pretrained(smollm2_engine.model)
    for k in key:
        assert len(tokenizer.encode(k["text"], add_special_tokens=False)) == k["tokens"] == k["length"]
        assert 1 < k["perplexity"] < 1e4 and k["generator"]["sha256"] and k["reference"] == k["generator"]
    rows = pq.read_table(out / "data").to_pylist()
    by_id = {r["id"]: r for r in rows}
    for k in traps:  # read back from the shards: exactly `repetitions` hosts, each holding the trap once
        holders = sorted(r["id"] for r in rows if k["text"] in r["text"])
        assert holders == sorted(k["hosts"]) and len(set(k["hosts"])) == k["repetitions"]
        assert all(by_id[h]["text"].count(k["text"]) == 1 and by_id[h]["source"] == "web" for h in k["hosts"])
    for k in controls:
        assert not any(k["text"] in r["text"] for r in rows) and k["hosts"] == []
    hosts = {h for k in traps for h in k["hosts"]}
    for r in rows:  # the provenance says a trap went in, not which
        marks = [p for p in r["provenance"] or [] if p["stage"] == "copyright_traps"]
        assert (r["id"] in hosts) == bool(marks) and all(p["detail"] is None for p in marks)
    stage = manifest["ledger"][-1]
    assert stage["stage"] == "copyright_traps" and stage["in"] == stage["kept"] == 60
    stats = manifest["stage_stats"]["copyright_traps"]
    assert stats["insertions"] == 2 * (1 + 6) * 2 and stats["eligible_documents"] == 40
    public = (out / "manifest.json").read_text() + (out / "README.md").read_text()
    assert manifest["traps"]["rows"] == len(key) and not any(k["text"] in public for k in key)


@pytest.mark.slow
def test_too_few_eligible_documents_fails_the_run_and_writes_no_dataset(tmp_path, stdlib_docs, smollm2_engine):
    with pytest.raises(Exception, match="eligible document"):
        trapped_run(tmp_path, stdlib_docs, smollm2_engine, sources=["books"], repetitions=[25])
    assert not (tmp_path / "out" / "manifest.json").exists()


def files_under(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_release_leaves_the_key_out_and_its_card_counts_the_traps_without_texts(trapped, tmp_path):
    target = Path(cut_release(str(trapped["out"]), "trapped", "0.1.0", str(tmp_path / "rel"), log=lambda *_: None))
    files = files_under(target)
    assert not any(rel.startswith("traps") for rel in files)
    texts = [k["text"] for k in trapped["key"]]
    public = "".join(data.decode("utf-8", "replace") for rel, data in files.items() if not rel.endswith(".parquet"))
    assert not any(t in public for t in texts)
    data_texts = pq.read_table(target / "data").column("text").to_pylist()
    assert all(any(k["text"] in t for t in data_texts) for k in trapped["key"] if k["repetitions"])
    card = files["README.md"].decode()
    assert "## Copyright traps" in card and "8 fictitious sequences of 12, 20 tokens" in card
    assert json.loads(files["manifest.json"])["release"]["with_traps"] is False


@pytest.mark.slow
def test_a_trap_text_in_the_card_refuses_the_release_and_with_traps_keeps_the_key(trapped, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(trapped["out"], leaky)
    manifest = json.loads((leaky / "manifest.json").read_text())
    trap = next(k for k in trapped["key"] if k["repetitions"])
    manifest["config"]["description"] = f"our corpus, e.g. '{trap['text']}'"  # rendered in the card's config
    (leaky / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReleaseError) as refused:
        cut_release(str(leaky), "trapped", "0.1.0", str(tmp_path / "rel"), log=lambda *_: None)
    message = str(refused.value)
    assert f"README.md: {trap['trap_id']}" in message and f"manifest.json: {trap['trap_id']}" in message
    assert trap["text"] not in message and not (tmp_path / "rel" / "0.1.0").exists()
    target = Path(cut_release(str(trapped["out"]), "trapped", "0.1.0", str(tmp_path / "private"), with_traps=True,
                              log=lambda *_: None))
    assert (target / "traps" / "traps.jsonl").read_bytes() == (trapped["out"] / "traps" / "traps.jsonl").read_bytes()
    assert "this private release holds the key" in (target / "README.md").read_text()
    assert "traps/traps.jsonl" in (target / "SHA256SUMS").read_text()


@pytest.mark.slow
def test_detect_with_the_untrained_model_as_its_own_reference_finds_nothing(trapped, tmp_path, smollm2_engine):
    config = BackendConfig(**smollm2_engine.backend_config())
    with smollm2_engine.shared_by():
        result = detect_from_key(str(trapped["out"] / "traps" / "traps.jsonl"), config, config, str(tmp_path),
                                 log=lambda *_: None)
    table = {g["group"]: g for g in result["table"]}
    assert set(table) == {k["group"] for k in trapped["key"]} | {"all"}
    assert all(g["n_traps"] == g["n_controls"] == 2 for name, g in table.items() if name != "all")
    assert table["all"]["auc"]["ratio"] == 0.5  # the same model on both sides: every ratio is -1, a tie
    written = json.loads((tmp_path / "detect.json").read_text())
    assert written["groups"] == result["table"] and len(written["sequences"]) == len(trapped["key"])
    assert (tmp_path / "detect.png").stat().st_size > 0
