"""Ids are unique in every output: the first occurrence keeps an id, whatever the number of workers."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.support.corpora import REPO, run_config, write_jsonl
from transforms.core.outcomes import DROPPED, QUARANTINED, Dropped, Kept, Quarantined
from transforms.io.spill import ADDRESS
from transforms.io.unique_ids import OCCURRENCE_KEYS, decide, resolve_id


def test_first_occurrence_wins_same_text_is_a_duplicate_other_text_a_collision():
    docs = [
        {"id": "a", "text": "later,  same", "origin_file": "b.jsonl", "origin_line": 1},
        {"id": "a", "text": "other text", "origin_file": "a.jsonl", "origin_line": 9},
        {"id": "a", "text": "later, same", "origin_file": "a.jsonl", "origin_line": 2},
    ]
    keys = [{**{k.name: k.of(d) for k in OCCURRENCE_KEYS}, ADDRESS: ("f", i)} for i, d in enumerate(docs)]
    rejections = dict(resolve_id(keys))
    assert ("f", 2) not in rejections  # a.jsonl:2 comes first and keeps the id
    assert rejections[("f", 1)][0] == QUARANTINED and rejections[("f", 1)][1].startswith("duplicate_id: ")
    assert rejections[("f", 0)] == (DROPPED, "exact_duplicate", "a")  # whitespace folded
    assert dict(resolve_id(list(reversed(keys)))) == rejections
    assert isinstance(decide((("f", 2), docs[2]), rejections), Kept)
    assert isinstance(decide((("f", 1), docs[1]), rejections), Quarantined)
    dropped = decide((("f", 0), docs[0]), rejections)
    assert isinstance(dropped, Dropped) and dropped.kept_id == "a"


def _corpus(tmp_path, stdlib_docs):
    """Three files; ids repeat across files with the same text and with other texts."""
    rows = {
        "a.jsonl.gz": [{"id": f"doc-{i}", "text": t} for i, t in enumerate(stdlib_docs[:30])],
        "b.jsonl": ([{"id": f"doc-{i}", "text": stdlib_docs[i]} for i in range(0, 10)]  # same id, same text
                    + [{"id": f"doc-{i}", "text": stdlib_docs[50 + i]} for i in range(10, 15)]  # collisions
                    + [{"id": f"new-{i}", "text": stdlib_docs[40 + i]} for i in range(10)]),
        "c.jsonl.zst": [{"id": "doc-10", "text": stdlib_docs[70]}, {"id": "doc-0", "text": stdlib_docs[0]}],
    }
    for name, records in rows.items():
        compression = name.rsplit(".", 1)[-1] if name.endswith((".gz", ".zst")) else None
        write_jsonl(tmp_path / name, [json.dumps(r).encode() for r in records], compression)
    return str(tmp_path / "*.jsonl*")


@pytest.mark.slow
def test_duplicate_ids_over_files_on_one_and_two_workers(tmp_path, stdlib_docs):
    pattern = _corpus(tmp_path, stdlib_docs)
    kept = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        runner = {"name": "FnApiRunner", "options": {"direct_num_workers": workers,
                                                      "direct_running_mode": "multi_processing"}}
        manifest = run_config({"input": {"paths": [pattern]}, "output": {"dir": str(out)}, "runner": runner}, REPO)
        normalize = manifest["ledger"][0]
        assert normalize["stage"] == "normalize" and normalize["in"] == 57
        assert normalize["reasons"] == {"exact_duplicate": 11} and normalize["errors"] == {"duplicate_id": 6}
        assert normalize["kept"] == 40
        data = pq.read_table(out / "data").to_pylist()
        assert len({r["id"] for r in data}) == len(data) == 40
        kept[workers] = sorted((r["id"], r["origin_file"], r["origin_line"]) for r in data)
        rejected = pq.read_table(out / "rejected").to_pylist()
        collisions = [r for r in rejected if (r["reject_error"] or "").startswith("duplicate_id")]
        assert sorted(r["kept_id"] for r in collisions) == sorted(["doc-10"] * 2 + [f"doc-{i}" for i in range(11, 15)])
        assert all(r["origin_file"] in ("b.jsonl", "c.jsonl.zst") for r in collisions)
    assert kept[1] == kept[2]
    assert all(origin == "a.jsonl.gz" for doc_id, origin, _ in kept[1] if doc_id.startswith("doc-"))
    print(f"\nnormalize ledger (2 workers): {json.dumps(normalize)}")
