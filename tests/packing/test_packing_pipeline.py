"""output.packing on real runs: every kept document's tokens come back from its sequences, files match the
manifest, bad settings fail before anything runs, and the bytes do not depend on the number of workers."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines.config import ConfigError, config_from_dict
from pipelines.run import run
from tests.support.corpora import REPO, SAMPLE_DIR, run_config
from transforms.packing.tokens import DocumentEncoder, tokenizer_for

SAMPLE_INPUTS = [str(SAMPLE_DIR / name) for name in (
    "fortunes.jsonl.gz", "debian-reference.jsonl.zst", "licenses.jsonl.zst", "shakespeare.jsonl.zst",
    "python-docs.jsonl.zst")]


def _raw(out: Path, packing: dict, runner: dict | None = None, inputs: list[str] = SAMPLE_INPUTS) -> dict:
    raw = {"input": {"paths": inputs}, "output": {"dir": str(out), "packing": packing}, "stages": []}
    if runner:
        raw["runner"] = runner
    return raw


def _kept_token_ids(out: Path, packing_cfg) -> dict[str, np.ndarray]:
    """Every kept document's ids, tokenized here from data/ with the tokenizer the run resolved."""
    table = ds.dataset(out / "data", format="parquet").to_table(columns=["id", "text"])
    ids = table.column("id").to_pylist()
    return dict(zip(ids, DocumentEncoder(tokenizer_for(packing_cfg)).encode(table.column("text").to_pylist())))


@pytest.fixture(scope="module")
def decomposed(tmp_path_factory):
    out = tmp_path_factory.mktemp("decompose") / "out"
    raw = _raw(out, {"mode": "decompose", "min_log2": 8, "max_log2": 13})
    manifest = run_config(raw, REPO)
    return {"dir": out, "manifest": manifest, "config": config_from_dict(raw, str(REPO))}


def test_every_documents_chunks_are_its_tokens_minus_the_dropped_remainder(decomposed):
    out, section = decomposed["dir"], decomposed["manifest"]["packing"]
    expected = _kept_token_ids(out, decomposed["config"].output.packing)
    rows = ds.dataset(out / "buckets", format="parquet").to_table().to_pylist()
    by_doc: dict[str, list] = {}
    for row in rows:
        assert len(row["input_ids"]) in (256, 512, 1024, 2048, 4096, 8192)
        by_doc.setdefault(row["doc_id"], []).append(row)
    dropped = 0
    for doc_id, ids in expected.items():
        chunks = sorted(by_doc.pop(doc_id, []), key=lambda r: r["chunk_index"])
        assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
        joined = [t for c in chunks for t in c["input_ids"]]
        assert joined == ids[:len(joined)].tolist(), doc_id
        assert len(ids) - len(joined) < 256
        dropped += len(ids) - len(joined)
    assert by_doc == {}, "sequences of documents that were not kept"
    assert ids[-1] == section["tokenizer"]["eos_id"] == 0  # <|endoftext|> ends every document
    assert section["documents"] == len(expected) == decomposed["manifest"]["totals"]["kept_rows"]
    assert section["tokens"] == sum(len(i) for i in expected.values())
    assert section["tokens_dropped"] == dropped
    assert section["tokens_packed"] + dropped == section["tokens"]


def test_bucket_files_match_the_manifest_and_the_curriculum(decomposed):
    out, section = decomposed["dir"], decomposed["manifest"]["packing"]
    assert [b["seq_len"] for b in section["buckets"]] == [256, 512, 1024, 2048, 4096, 8192]
    for bucket in section["buckets"]:
        found = sorted(str(p.relative_to(out)) for p in (out / bucket["dir"]).glob("part-*.parquet"))
        assert found == [f["path"] for f in bucket["files"]]
        for f in bucket["files"]:
            assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
            assert pq.read_schema(out / f["path"]).names == ["input_ids", "doc_id", "chunk_index", "source"]
        assert sum(f["rows"] for f in bucket["files"]) == bucket["sequences"]
        assert bucket["tokens"] == bucket["sequences"] * bucket["seq_len"]
    curriculum = json.loads((out / "buckets" / "_curriculum.json").read_text())
    assert [b["tokens"] for b in curriculum["buckets"]] == [b["tokens"] for b in section["buckets"]]
    for name in ("uniform", "grow_p2"):
        assert sum(curriculum["curricula"][name]["weights"].values()) == pytest.approx(1.0)


def test_concat_baseline_packs_documents_end_to_end(tmp_path):
    out = tmp_path / "out"
    raw = _raw(out, {"mode": "concat", "seq_len": 1024, "shard_tokens": 200_000}, None, SAMPLE_INPUTS[:3])
    section = run_config(raw, REPO)["packing"]
    expected = _kept_token_ids(out, config_from_dict(raw, str(REPO)).output.packing)
    assert len(section["files"]) == -(-section["tokens"] // 200_000) > 1  # ceil(tokens / shard_tokens)
    seen: dict[str, list] = {}
    for path in sorted((out / "packed").glob("part-*.parquet")):
        for row in pq.read_table(path).to_pylist():
            ids, offsets = row["input_ids"], row["doc_offsets"] + [1024]
            assert len(ids) == 1024 and offsets[0] == 0
            for i, doc_id in enumerate(row["doc_ids"]):
                seen.setdefault(doc_id, []).extend(ids[offsets[i]:offsets[i + 1]])
    for doc_id, tokens in seen.items():  # each document's tokens, in order, from its start
        assert tokens == expected[doc_id][:len(tokens)].tolist()
    packed = sum(len(t) for t in seen.values())
    assert packed == section["tokens_packed"] == section["sequences"] * 1024
    assert packed + section["tokens_dropped"] == section["tokens"]
    assert section["tokens_dropped"] < 1024 * len(section["files"])


def test_bad_packing_settings_fail_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match=r"min_log2 \(9\) must not exceed max_log2 \(8\)"):
        config_from_dict(_raw(tmp_path / "o", {"mode": "decompose", "min_log2": 9, "max_log2": 8}), str(REPO))
    cfg = config_from_dict(_raw(tmp_path / "o", {"mode": "decompose", "tokenizer": "no/such/tokenizer"}), str(tmp_path))
    with pytest.raises(ConfigError, match="output.packing.tokenizer = .*no tokenizer.json"):
        run(cfg, [], log=lambda *_: None)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    cfg = config_from_dict(_raw(tmp_path / "o", {"mode": "decompose", "eos_token": "<not-a-token>"}), str(tmp_path))
    with pytest.raises(ConfigError, match="not in its vocabulary"):
        run(cfg, [], log=lambda *_: None)


@pytest.mark.slow
def test_buckets_are_the_same_bytes_on_one_worker_and_two(tmp_path):
    packing = {"mode": "decompose", "min_log2": 8, "max_log2": 13, "shard_tokens": 50_000}
    runner = {"name": "FnApiRunner", "options": {"direct_num_workers": 2, "direct_running_mode": "multi_processing"}}
    two = run_config(_raw(tmp_path / "two", packing, runner, SAMPLE_INPUTS[:3]), REPO)["packing"]
    one = run_config(_raw(tmp_path / "one", packing, None, SAMPLE_INPUTS[:3]), REPO)["packing"]
    files = [(f["path"], f["sha256"]) for b in one["buckets"] for f in b["files"]]
    assert len(files) > 6  # several shards in the larger buckets
    assert files == [(f["path"], f["sha256"]) for b in two["buckets"] for f in b["files"]]
    assert one["curriculum"] == two["curriculum"]


def test_inspect_card_report_and_release_show_and_carry_the_buckets(decomposed, tmp_path):
    from pipelines.inspect import inspect_dataset
    from pipelines.release import cut_release

    out, section = decomposed["dir"], decomposed["manifest"]["packing"]
    text = inspect_dataset(str(out))
    assert "packing: decompose" in text and "| buckets/len-08192 | 8,192 |" in text
    card = (out / "README.md").read_text()
    assert "path: buckets/len-00256/*.parquet" in card and "## Training sequences" in card
    assert (out / "report" / "packing_tokens.png").read_bytes()[:4] == b"\x89PNG"
    target = Path(cut_release(str(out), "packed", "0.1.0", to=str(tmp_path / "releases"), log=lambda *_: None))
    sums = dict(line.split("  ")[::-1] for line in (target / "SHA256SUMS").read_text().splitlines())
    listed = [f for b in section["buckets"] for f in b["files"]] + [section["curriculum"]]
    for f in listed:
        assert sums[f["path"]] == f["sha256"] == hashlib.sha256((target / f["path"]).read_bytes()).hexdigest()
    assert "config_name: len-00256" in (target / "README.md").read_text()


def test_documents_without_tokens_are_counted_not_crashed_on(tmp_path):
    """Straight through Beam (no normalize, which drops empty texts): an empty text with eos off has no tokens."""
    import apache_beam as beam

    from pipelines.config import DecomposeSpec
    from transforms.ordering.embeddings import default_model_path
    from transforms.packing.tokens import resolve_tokenizer
    from transforms.packing.write_sequences import WriteSequences, bucket_dir

    spec = DecomposeSpec(mode="decompose", tokenizer=default_model_path(), eos=False, min_log2=2, max_log2=3)
    tokenizer = resolve_tokenizer(spec.tokenizer, spec.eos, spec.eos_token)
    docs = [{"id": "empty", "text": "", "source": "s"}, {"id": "short", "text": "two words", "source": "s"},
            {"id": "long", "text": "the quick brown fox jumps over the lazy dog " * 3, "source": "s"}]
    result = tmp_path / "written.json"
    with beam.Pipeline("FnApiRunner") as p:
        _ = (p | beam.Create(docs) | WriteSequences(str(tmp_path), spec, tokenizer, 3) | beam.Map(json.dumps)
             | beam.io.WriteToText(str(result), shard_name_template=""))
    written = json.loads(result.read_text())
    counts = written["counts"]
    assert counts["documents"] == 3 and counts["documents_without_tokens"] == 1
    assert counts["documents_shorter_than_smallest_bucket"] == 1  # "two words": 2 tokens < 2^2
    long_tokens = counts["tokens"] - 2
    assert counts["tokens/3"] == 8 * (long_tokens // 8)
    assert counts["tokens/3"] + counts.get("tokens/2", 0) + counts.get("tokens_dropped", 0) == counts["tokens"]
    assert sorted(f["path"] for f in written["files"]) == [
        f"{bucket_dir(log2)}/part-00000-of-00001.parquet" for log2 in (2, 3) if counts.get(f"sequences/{log2}")]
