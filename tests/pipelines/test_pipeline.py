"""End to end on Beam's FnApiRunner: read → normalize → exact_dedup → Parquet, and the accounting."""
import json
import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import SCHEMA_VERSION
from tests.support.corpora import run_config, write_jsonl


def config(pattern, out, **output):
    return {
        "input": {"paths": [pattern]},
        "output": {"dir": str(out), "shard_rows": 16, **output},
        "stages": [{"exact_dedup": {}}],
    }


def test_messy_corpus_is_fully_accounted(messy_corpus, tmp_path):
    out = tmp_path / "out"
    manifest = run_config(config(messy_corpus["pattern"], out), tmp_path)
    exp = messy_corpus["expected"]
    normalize, dedup = manifest["ledger"]
    assert normalize["in"] == exp["records"]
    assert normalize["quarantined"] == exp["quarantined"]
    assert normalize["dropped"] == exp["dropped_normalize"]
    assert dedup["reasons"] == {"exact_duplicate": exp["exact_duplicates"]}
    assert manifest["ledger_problems"] == [] and manifest["status"] == "ok"

    kept = duckdb.connect().execute(f"SELECT count(*) FROM '{out}/data/*.parquet'").fetchone()[0]
    assert kept == manifest["totals"]["kept_rows"] == dedup["kept"]
    assert kept == 40

    rejected = pq.read_table(out / "rejected").to_pylist()
    assert len(rejected) == manifest["totals"]["rejected_rows"] == exp["quarantined"] + exp["dropped_normalize"] + 1
    malformed = [r for r in rejected if (r["reject_error"] or "").startswith("malformed_json")]
    assert len(malformed) == 1
    assert malformed[0]["origin_file"] == "a.jsonl.zst" and malformed[0]["origin_line"] == 21
    assert malformed[0]["raw"] == b'{"text": "cut off mid str'
    dup = [r for r in rejected if r["reject_reason"] == "exact_duplicate"][0]
    assert dup["kept_id"] and dup["kept_id"] != dup["id"]


def test_shards_follow_the_output_contract(messy_corpus, tmp_path):
    out = tmp_path / "out"
    manifest = run_config(config(messy_corpus["pattern"], out, row_group_rows=5), tmp_path)
    files = sorted(os.listdir(out / "data"))
    assert files == [f"part-{i:05d}-of-00003.parquet" for i in range(3)]
    for name in files:
        meta = pq.ParquetFile(out / "data" / name).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        assert all(meta.row_group(i).num_rows <= 5 for i in range(meta.num_row_groups))
        assert meta.schema.to_arrow_schema().metadata[b"corpusmill.schema_version"] == SCHEMA_VERSION.encode()
    ids = pq.read_table(out / "data", columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids))
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert {s["path"] for s in manifest["shards"]} == {f"data/{n}" for n in files}
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "data/*.parquet" in card


def test_hf_datasets_loads_the_directory_offline(messy_corpus, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out"
    manifest = run_config(config(messy_corpus["pattern"], out), tmp_path)
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == manifest["totals"]["kept_rows"]
    assert "text" in ds.column_names and "provenance" in ds.column_names


@pytest.mark.slow
def test_same_input_gives_identical_shards_also_with_two_processes(messy_corpus, tmp_path):
    first = run_config(config(messy_corpus["pattern"], tmp_path / "a"), tmp_path)
    second = run_config(config(messy_corpus["pattern"], tmp_path / "b"), tmp_path)
    multi = run_config(
        {**config(messy_corpus["pattern"], tmp_path / "c"),
         "runner": {"name": "FnApiRunner", "options": {"direct_num_workers": 2, "direct_running_mode": "multi_processing"}}},
        tmp_path,
    )
    digests = [[(s["path"], s["sha256"]) for s in m["shards"]] for m in (first, second, multi)]
    assert digests[0] == digests[1] == digests[2]
    assert [(s["path"], s["sha256"]) for s in first["rejected"]] == [(s["path"], s["sha256"]) for s in multi["rejected"]]


def test_parquet_and_text_directory_inputs(tmp_path, stdlib_docs):
    src = tmp_path / "src"
    (src / "txt").mkdir(parents=True)
    pq.write_table(pa.table({"body": stdlib_docs[:5], "doc": [f"d{i}" for i in range(5)]}), src / "p.parquet")
    for i, text in enumerate(stdlib_docs[5:8]):
        (src / "txt" / f"{i}.txt").write_text(text)
    (src / "txt" / "empty.txt").write_text("  \n")
    raw = {
        "input": [
            {"paths": [str(src / "*.parquet")], "format": "parquet", "text_field": "body", "id_field": "doc", "source": "pq"},
            {"paths": [str(src / "txt" / "*.txt")], "format": "text", "source": "txt"},
        ],
        "output": {"dir": str(tmp_path / "out")},
    }
    manifest = run_config(raw, tmp_path)
    assert manifest["ledger"][0] == {
        "stage": "normalize", "in": 9, "kept": 8, "dropped": 1, "quarantined": 0,
        "reasons": {"empty": 1}, "errors": {},
    }
    table = pq.read_table(tmp_path / "out" / "data").to_pylist()
    assert {r["id"] for r in table if r["source"] == "pq"} == {f"d{i}" for i in range(5)}
    assert {r["origin_file"] for r in table if r["source"] == "txt"} == {"0.txt", "1.txt", "2.txt"}
    assert manifest["stage_stats"]["output"]["rows_per_source"] == {"pq": 5, "txt": 3}


def test_empty_result_still_writes_a_loadable_shard(tmp_path):
    write_jsonl(tmp_path / "e.jsonl", [b'{"text": ""}', b"not json"])
    manifest = run_config(config(str(tmp_path / "e.jsonl"), tmp_path / "out"), tmp_path)
    assert manifest["totals"]["kept_rows"] == 0
    assert pq.read_table(tmp_path / "out" / "data" / "part-00000-of-00001.parquet").num_rows == 0


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: json.dumps({"text": t}).encode()),
    st.just(b'{"text": "' + b"y" * 5000 + b'"}'),
), max_size=30))
def test_fuzzed_input_never_crashes_and_balances(tmp_path_factory, lines):
    tmp = tmp_path_factory.mktemp("fuzz")
    write_jsonl(tmp / "f.jsonl", [line.replace(b"\n", b" ") for line in lines])
    raw = config(str(tmp / "f.jsonl"), tmp / "out")
    raw["normalize"] = {"max_bytes": 2000}
    manifest = run_config(raw, tmp)
    assert manifest["ledger_problems"] == []
    assert manifest["ledger"][0]["in"] == len(lines)


def test_cut_and_corrupt_inputs_are_one_quarantined_record_each_and_the_rest_is_kept(tmp_path):
    """A .gz and a .zst cut short and a Parquet file with a corrupt page, in one FnApiRunner run."""
    import gzip
    import zlib

    import zstandard

    from pipelines.config import config_from_dict
    from pipelines.run import run
    from tests.support.corpora import SAMPLE_DIR

    scenes = zstandard.ZstdDecompressor().decompressobj().decompress(
        (SAMPLE_DIR / "shakespeare.jsonl.zst").read_bytes()).split(b"\n")
    src = tmp_path / "src"
    src.mkdir()
    gz = gzip.compress(b"".join(s + b"\n" for s in scenes[:30]), mtime=0)
    zst = zstandard.ZstdCompressor(write_checksum=True).compress(b"".join(s + b"\n" for s in scenes[30:60]))
    (src / "a.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    (src / "b.jsonl.zst").write_bytes(zst[: len(zst) * 4 // 5])
    # what can still be decoded: its complete lines are the records kept, the rest is the torn line
    available = {"a.jsonl.gz": zlib.decompressobj(31).decompress(gz[: len(gz) // 2]).split(b"\n"),
                 "b.jsonl.zst": zstandard.ZstdDecompressor().decompressobj().decompress(zst[: len(zst) * 4 // 5]).split(b"\n")}
    texts = [f"row {i}: " + json.loads(scenes[60 + i % 30])["text"][:2000] for i in range(150)]
    pq.write_table(pa.table({"text": texts}), src / "c.parquet", row_group_size=50, write_page_checksum=True)
    column = pq.ParquetFile(src / "c.parquet").metadata.row_group(2).column(0)
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    data = bytearray((src / "c.parquet").read_bytes())
    data[start + column.total_compressed_size // 2] ^= 0x10
    (src / "c.parquet").write_bytes(bytes(data))

    raw = {"input": [{"paths": [str(src / "*.jsonl*")]}, {"paths": [str(src / "*.parquet")], "format": "parquet"}],
           "output": {"dir": str(tmp_path / "out")}}
    console: list[str] = []
    manifest = run(config_from_dict(raw, str(tmp_path)), [], log=console.append)

    kept_before = {name: len(lines) - 1 for name, lines in available.items()}
    assert all(n > 0 for n in kept_before.values())
    [normalize] = manifest["ledger"]
    assert manifest["ledger_problems"] == [] and manifest["status"] == "ok"
    assert normalize["errors"] == {"corrupt_input": 1, "truncated_input": 2}
    assert normalize["in"] == sum(kept_before.values()) + 100 + 3
    assert normalize["kept"] == sum(kept_before.values()) + 100 and normalize["dropped"] == 0

    kept = pq.read_table(tmp_path / "out" / "data", columns=["origin_file", "text"]).to_pylist()
    by_file = {name: sorted(r["text"] for r in kept if r["origin_file"] == name) for name in ("a.jsonl.gz", "b.jsonl.zst", "c.parquet")}
    for name, lines in available.items():
        assert by_file[name] == sorted(json.loads(line)["text"] for line in lines[:-1])
    assert by_file["c.parquet"] == sorted(texts[:100])

    rejected = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    faults = sorted((r["origin_file"], r["reject_error"].split(":")[0], r["raw"]) for r in rejected)
    assert faults == [("a.jsonl.gz", "truncated_input", available["a.jsonl.gz"][-1] or None),
                      ("b.jsonl.zst", "truncated_input", available["b.jsonl.zst"][-1] or None),
                      ("c.parquet", "corrupt_input", None)]

    stats = manifest["stage_stats"]["normalize"]["input_faults"]
    assert [(f["file"], f["reason"], f["records_read"]) for f in stats] == [
        ("a.jsonl.gz", "truncated_input", kept_before["a.jsonl.gz"]),
        ("b.jsonl.zst", "truncated_input", kept_before["b.jsonl.zst"]),
        ("c.parquet", "corrupt_input", 100)]
    warnings = [line for line in console if "warning: input" in line]
    assert warnings == [
        f"[corpusmill] warning: input a.jsonl.gz truncated after {len(gz) // 2:,} of ? bytes ({kept_before['a.jsonl.gz']} records read)",
        f"[corpusmill] warning: input b.jsonl.zst truncated after {len(zst) * 4 // 5:,} of ? bytes ({kept_before['b.jsonl.zst']} records read)",
        f"[corpusmill] warning: input c.parquet corrupt after {start:,} of {len(data):,} bytes (100 records read): "
        + stats[2]["detail"]]
    page = (tmp_path / "out" / "report" / "index.html").read_text()
    assert "Input faults" in page and all(name in page for name in ("a.jsonl.gz", "b.jsonl.zst", "c.parquet"))
