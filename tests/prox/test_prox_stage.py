"""The `prox` stage (rules writer) through the real pipeline on FnApiRunner, and the run-program CLI."""
import json
import subprocess
import sys

import pyarrow.parquet as pq

from tests.support.corpora import REPO, run_config, write_jsonl

MENU = ["Home", "Products »", "Blog »", "Visit the Example Shop for kettle spares and more"]
FOOTER = ["Example Inc. is a registered trademark of Example Holdings in many countries"]


def page(i: int) -> str:
    body = [f"Article {i}: the kettle number {i} boiled while the rain fell on the old tin roof of the house by "
            f"the river, and everybody in the kitchen waited for the tea to be ready."] * 3
    return "\n".join(MENU + body + FOOTER)


def test_rules_stage_removes_site_boilerplate_and_accounts_for_everything(tmp_path):
    docs = [{"text": page(i), "source": "site"} for i in range(6)]
    docs.append({"text": "\n".join(MENU + FOOTER), "source": "site"})  # all boilerplate → dropped
    docs.append({"text": "Visit the Example Shop for kettle spares and more\n" + page(99).split("\n")[4],
                 "source": "other"})  # the same line is not repeated within *its* source
    write_jsonl(tmp_path / "in.jsonl", [json.dumps(d).encode() for d in docs])
    out = tmp_path / "out"
    manifest = run_config({"input": {"paths": [str(tmp_path / "in.jsonl")]}, "output": {"dir": str(out)},
                           "stages": [{"prox": {"repeat_min_docs": 3}}]}, tmp_path)
    [_, prox] = manifest["ledger"]
    assert prox["in"] == 8 and prox["kept"] == 7 and prox["reasons"] == {"prox_drop_chunks": 1}
    rows = pq.read_table(out / "data").to_pylist()
    site = [r for r in rows if r["source"] == "site"]
    for r in site:
        assert r["text"].split("\n")[0].startswith("Article ")
        assert "Example Shop" not in r["text"] and "trademark" not in r["text"]
        detail = json.loads(r["provenance"][-1]["detail"])
        assert r["provenance"][-1]["action"] == "refined"
        assert detail["writer"] == "rules" and detail["chunk_errors"] == 0
        assert "remove_lines(line_start=0, line_end=3)" in detail["chunk_program"]
    [other] = [r for r in rows if r["source"] == "other"]
    assert other["text"].startswith("Visit the Example Shop")
    rejected = pq.read_table(out / "rejected").to_pylist()
    assert [r["reject_reason"] for r in rejected] == ["prox_drop_chunks"]
    stats = manifest["stage_stats"]["prox"]
    assert stats["doc_programs"] == stats["chunk_programs"] == 8  # the rules keep every document at doc level
    assert stats["doc_programs_malformed"] == stats["chunk_programs_malformed"] == stats["programs_truncated"] == 0
    assert stats["statements_executed"] >= 8 + 6  # a decision per document, at least one removal per site page


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_run_program_cli(tmp_path):
    text = tmp_path / "doc.txt"
    text.write_text("Home | Login\n" + "A real paragraph of words that says something worth keeping here. ¶\n" * 2)
    prog = tmp_path / "p.txt"
    prog.write_text('remove_lines(start=0, end=0)\nnormalize(source_str=" ¶")\n')
    res = _cli("prox", "run-program", "--stage", "chunk", "--program", str(prog), "--input", str(text))
    assert res.returncode == 0
    assert res.stdout == "A real paragraph of words that says something worth keeping here.\n" * 2

    prog.write_text("drop_doc()")
    res = _cli("prox", "run-program", "--stage", "doc", "--program", str(prog), "--input", str(text))
    assert res.returncode == 0 and res.stdout == "" and "prox_drop_doc" in res.stderr

    prog.write_text("remove_lines(line_start=0, line_end=2)")
    res = _cli("prox", "run-program", "--stage", "chunk", "--program", str(prog), "--input", str(text))
    assert res.returncode == 0 and res.stdout == "" and "prox_drop_chunks" in res.stderr
