"""perplexity_filter: the NLL → perplexity arithmetic and the keep rules (the backend is tested on the llm branch)."""
import math

import pytest

from transforms.core.outcomes import Kept
from transforms.core.score_then_cut import Bounds, _Cut, grid_bounds
from transforms.quality.perplexity_filter import PerplexityConfig, perplexity


def test_perplexity_is_exp_mean_nll_skipping_the_unscored_first_token():
    assert perplexity([None, math.log(0.5), math.log(0.25)]) == pytest.approx(math.exp((math.log(2) + math.log(4)) / 2))
    with pytest.raises(ValueError):
        perplexity([None])


def test_threshold_rules_and_band_cuts():
    cut, bounds = _Cut("perplexity", "perplexity_below_min", "perplexity_above_max"), Bounds(5.0, 100.0)
    assert isinstance(cut.decide({"perplexity": 50.0}, bounds), Kept)
    assert cut.decide({"perplexity": 500.0}, bounds).reason == "perplexity_above_max"
    assert cut.decide({"perplexity": 2.0}, bounds).reason == "perplexity_below_min"
    assert grid_bounds([float(i) for i in range(101)], 10 / 100, 90 / 100) == (10.0, 90.0)
    with pytest.raises(Exception, match="exactly one"):
        PerplexityConfig.model_validate({"max_perplexity": 10, "percentile_band": [5, 95]})


@pytest.mark.slow
def test_perplexity_filter_in_beam_scores_with_real_smollm2(tmp_path, stdlib_docs, smollm2_engine):
    """Real SmolLM2 through vLLM in the pipeline (the session's engine): prose scores lower than its own words
    shuffled."""
    import json
    import random

    from tests.support.corpora import run_config, write_jsonl

    prose = stdlib_docs[:6]
    rng = random.Random(0)
    shuffled = []
    for text in prose:
        words = text.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    lines = [json.dumps({"text": t, "source": "prose"}).encode() for t in prose]
    lines += [json.dumps({"text": t, "source": "shuffled"}).encode() for t in shuffled]
    write_jsonl(tmp_path / "in.jsonl", lines)
    raw = {
        "input": {"paths": [str(tmp_path / "in.jsonl")]},
        "output": {"dir": str(tmp_path / "out")},
        "stages": [{"perplexity_filter": {"backend": smollm2_engine.backend_config(),
                                          "max_tokens": 32, "percentile_band": [0, 50], "batch_size": 16}}],
    }
    with smollm2_engine.shared_by():  # started no engine of its own, released the shared one
        manifest = run_config(raw, tmp_path)
    entry = manifest["ledger"][1]
    assert entry["in"] == 12 and entry["kept"] + entry["dropped"] == 12 and entry["quarantined"] == 0
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "out" / "data").to_pylist()
    rejected = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    ppl = {r["source"]: [] for r in rows + rejected}
    for r in rows + rejected:
        assert math.isfinite(r["perplexity"]) and r["perplexity"] > 1
        ppl[r["source"]].append(r["perplexity"])
    assert max(ppl["prose"]) < min(ppl["shuffled"])
    assert {r["source"] for r in rows} == {"prose"}  # the lower half by perplexity is the prose
    assert any(json.loads(p["detail"])["scored_tokens"] == 32 for r in rows for p in r["provenance"] or []
               if p["action"] == "perplexity_truncated")
