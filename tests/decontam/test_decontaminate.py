"""The decontaminate stage on Beam: eval items planted verbatim, with changed whitespace and case, and
paraphrased; the first two are caught, the paraphrase (no shared 13-gram) is not."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.release import cut_release
from tests.support.corpora import run_config, write_jsonl
from transforms.decontam.ngrams import text_ngram_hashes


def paraphrase(text: str) -> str:
    """Every fifth word changed: the same content, no 13 consecutive words in common."""
    return " ".join(w if i % 5 else f"{w}ish" for i, w in enumerate(text.split()))


def shout(text: str) -> str:
    return "\n   ".join(text.upper().split(" "))


@pytest.fixture()
def planted(tmp_path, stdlib_docs):
    long = [d for d in stdlib_docs if len(d.split()) >= 60]
    questions, answers = long[:3], long[3:6]
    items = [{"id": f"q{i}", "question": q, "answer": " ".join(a.split()[:30])}
             for i, (q, a) in enumerate(zip(questions, answers))]
    eval_grams = set().union(*(text_ngram_hashes(f"{i['question']} {i['answer']}", 13) for i in items))
    # hosts and clean documents that share no 13-gram with an item (docstrings of related functions do)
    unrelated = [d for d in long[6:] if not eval_grams & set(text_ngram_hashes(d, 13))]
    hosts, clean = unrelated[:9], unrelated[9:19]
    items.append({"id": "short", "question": "What is it?", "answer": "yes"})  # under min_item_words
    evals = tmp_path / "evals"
    evals.mkdir()
    lines = [json.dumps(item).encode() for item in items] + [b'{"id": "broken", "question": ']
    write_jsonl(evals / "my-eval.jsonl", lines)
    planted_text = {
        "verbatim": lambda item: f"{item['question']} {item['answer']}",
        "case": lambda item: shout(f"{item['question']} {item['answer']}"),
        "paraphrase": lambda item: paraphrase(f"{item['question']} {item['answer']}"),
    }
    rows = []
    for k, (kind, make) in enumerate(planted_text.items()):
        for i, item in enumerate(items[:3]):
            host = hosts[3 * k + i]
            middle = len(host) // 2
            rows.append({"id": f"{kind}-{i}", "text": f"{host[:middle]} {make(item)} {host[middle:]}"})
    rows += [{"id": f"clean-{i}", "text": t} for i, t in enumerate(clean)]
    write_jsonl(tmp_path / "in.jsonl", [json.dumps(r).encode() for r in rows])
    return {"pattern": str(tmp_path / "in.jsonl"), "items": items, "n": len(rows), "rows": rows}


def config(planted, out, **stage):
    return {
        "input": {"paths": [planted["pattern"]]},
        "output": {"dir": str(out)},
        "stages": [{"decontaminate": {
            "eval_sets": [{"name": "my-eval", "paths": ["evals/*.jsonl"], "fields": ["question", "answer"]}],
            **stage}}],
    }


def test_paraphrase_shares_no_13_gram(planted):
    for item in planted["items"][:3]:
        text = f"{item['question']} {item['answer']}"
        assert not set(text_ngram_hashes(text, 13)) & set(text_ngram_hashes(paraphrase(text), 13))


def test_verbatim_and_case_changes_are_caught_and_the_paraphrase_is_not(planted, tmp_path):
    manifest = run_config(config(planted, tmp_path / "out"), tmp_path)
    stage = manifest["ledger"][-1]
    assert stage["in"] == planted["n"]
    assert stage["reasons"] == {"contaminated:my-eval": 6}
    rejected = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "rejected").to_pylist()}
    assert set(rejected) == {f"{kind}-{i}" for kind in ("verbatim", "case") for i in range(3)}
    detail = json.loads(rejected["case-1"]["provenance"][-1]["detail"])
    assert detail["eval_sets"]["my-eval"]["items"] == ["q1"]
    assert detail["eval_sets"]["my-eval"]["ngrams"] >= 50
    kept = {r["id"] for r in pq.read_table(tmp_path / "out" / "data").to_pylist()}
    assert {f"paraphrase-{i}" for i in range(3)} <= kept
    stats = manifest["stage_stats"]["decontaminate"]
    assert stats["contaminated_docs"] == {"my-eval": 6}
    assert stats["items_found"] == {"my-eval": 3}
    facts = stats["eval_sets"]["my-eval"]
    assert facts["items"] == 4 and facts["items_too_short"] == 1
    assert facts["unreadable_rows"] == 1 and "my-eval.jsonl:5" in facts["unreadable_examples"][0]
    table_row = "| my-eval | 4 | 1 | 1 | 3 | 6 | drop |"
    assert table_row in (tmp_path / "out" / "README.md").read_text()
    assert "my-eval" in (tmp_path / "out" / "report" / "index.html").read_text()
    release = cut_release(str(tmp_path / "out"), "decon", "0.1.0", str(tmp_path / "releases"), log=lambda *_: None)
    assert table_row in (Path(release) / "README.md").read_text()


def test_redact_cuts_the_spans_and_keeps_the_rest(planted, tmp_path):
    manifest = run_config(config(planted, tmp_path / "out", action="redact", min_words_after_redact=20), tmp_path)
    assert manifest["ledger"][-1]["dropped"] == 0
    kept = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "data").to_pylist()}
    item = planted["items"][0]
    doc = kept["verbatim-0"]
    assert item["question"][:80] not in doc["text"]
    host = next(r["text"] for r in planted["rows"] if r["id"] == "verbatim-0")
    assert host[:40] in doc["text"]
    entry = doc["provenance"][-1]
    assert entry["action"] == "redacted" and json.loads(entry["detail"])["cut_spans"]
    assert manifest["stage_stats"]["decontaminate"]["redacted_docs"] == 6


@pytest.mark.parametrize("change,message", [
    ({"paths": ["evals/none-*.jsonl"]}, "matches no file"),
    ({"fields": ["question", "gold"]}, "no row has the field(s) ['gold']"),
])
def test_bad_eval_sets_fail_before_anything_runs(planted, tmp_path, change, message):
    raw = config(planted, tmp_path / "out")
    raw["stages"][0]["decontaminate"]["eval_sets"][0].update(change)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        run_config(raw, tmp_path)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing written


def test_a_document_the_search_fails_on_is_quarantined_and_the_rest_decided(planted, tmp_path):
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.decontam.decontaminate import Decontaminate, DecontaminateConfig

    cfg = DecontaminateConfig(eval_sets=[{"name": "my-eval", "paths": ["evals/*.jsonl"],
                                          "fields": ["question", "answer"]}])
    docs = [r for r in planted["rows"] if r["id"] in ("verbatim-0", "clean-0")] + [{"id": "bad", "text": None}]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(docs) | Decontaminate("decontaminate", cfg, str(tmp_path), str(tmp_path / "work"))
        assert_that(out.kept | "KeptIds" >> beam.Map(lambda d: d["id"]), equal_to(["clean-0"]), label="kept")
        assert_that(out.dropped | "DroppedIds" >> beam.Map(lambda d: d["id"]), equal_to(["verbatim-0"]),
                    label="dropped")
        assert_that(out.quarantined | "Errors" >> beam.Map(lambda d: (d["id"], d["_reject"]["error"][:9])),
                    equal_to([("bad", "TypeError")]), label="quarantined")
