"""heuristic_filters: datatrove's own filters, and 100% agreement with datatrove's LocalPipelineExecutor."""
from __future__ import annotations

import json

import pytest

from tests.support.quality_data import mixed_texts, sample_records
from transforms.core.outcomes import Dropped, Kept
from transforms.quality.datatrove_reference import datatrove_chain, run_datatrove
from transforms.quality.heuristic_filters import FILTERS, HeuristicFilters, HeuristicFiltersConfig
from transforms.quality.language_id import LanguageId, default_model_path

LANGUAGES = ["en"]


def ours(texts, filters, label="heuristic_filters"):
    lid = LanguageId(languages=LANGUAGES)
    heuristics = HeuristicFilters(label, filters)
    heuristics.setup()
    results = {}
    docs = [{"id": i, "text": t} for i, t in texts]
    for outcome in lid.process_batch(docs):
        doc = outcome.doc
        if isinstance(outcome, Dropped):
            results[doc["id"]] = ("dropped", "language_id:" + outcome.reason, doc)
            continue
        outcome = heuristics.process(doc)
        results[doc["id"]] = ("kept", doc["text"], doc) if isinstance(outcome, Kept) else ("dropped", outcome.reason, doc)
    return results, heuristics


@pytest.mark.slow
def test_every_decision_equals_datatrove_local_pipeline_executor():
    texts = mixed_texts(per_source=22, max_chars=9000)
    filters = {key: {} for key in FILTERS}
    reference = run_datatrove(texts, datatrove_chain(LANGUAGES, 0.65, default_model_path(), filters))
    mine, heuristics = ours(texts, filters)
    assert set(reference) == set(mine) == {i for i, _ in texts}
    reasons = set()
    for doc_id, (outcome, detail, lang, lang_score) in reference.items():
        my_outcome, my_detail, doc = mine[doc_id]
        assert doc["lang"] == lang and doc["lang_score"] == pytest.approx(min(lang_score, 1.0), abs=1e-6), doc_id
        assert my_outcome == outcome, (doc_id, detail, my_detail)
        if detail.startswith("language_id:"):  # datatrove's LanguageFilter gives no reason; ours names the language
            assert my_detail in (f"language_id:lang:{lang}", f"language_id:lang_low_score:{lang}")
        else:
            assert my_detail == detail, doc_id  # same reason, or the same final (C4-cleaned) text
        reasons.add(my_detail.split(":")[0] if outcome == "dropped" else "kept")
    # the sample exercises every filter, so agreement is not vacuous
    assert reasons >= {"language_id", "gopher_repetition", "gopher_quality", "c4_quality", "kept"}
    # one tokenization per text (Gopher pair shares; FineWeb re-tokenizes only C4-changed text)
    assert heuristics.tokenizer.tokenizations <= 2 * len(texts)


def test_c4_line_removal_is_in_provenance_and_signals():
    text = next(r["text"] for r in sample_records("python-docs.jsonl.zst") if 3000 < len(r["text"]) < 9000)
    processor = HeuristicFilters("hf", {"c4_quality": {}, "gopher_quality": {"min_stop_words": None}})
    outcome = processor.process({"id": "x", "text": text})
    doc = outcome.doc
    assert doc["signals"]["words"] > 100 and 2 < doc["signals"]["mean_word_length"] < 10
    if isinstance(outcome, Kept):
        assert doc["text"] != text
        (entry,) = [p for p in doc["provenance"] if p["action"] == "line_removal"]
        detail = json.loads(entry["detail"])
        assert entry["stage"] == "hf" and detail["filter"] == "c4_quality"
        assert detail["lines_after"] < detail["lines_before"] == len(text.splitlines())
        assert doc["signals"]["c4_quality_lines_removed"] == detail["lines_before"] - detail["lines_after"]
    else:
        assert outcome.reason.startswith("c4_quality:")


def test_params_reach_datatrove_and_disabling_works():
    fortune = {"id": "f", "text": sample_records("fortunes.jsonl.gz")[0]["text"]}
    strict = HeuristicFilters("hf", {"gopher_quality": {}})
    assert strict.process(dict(fortune)).reason == "gopher_quality:gopher_short_doc"
    lenient = HeuristicFilters("hf", {"gopher_quality": {"min_doc_words": 1, "min_stop_words": 0,
                                                         "max_avg_word_length": 100, "min_avg_word_length": 1,
                                                         "max_non_alpha_words_ratio": None}})
    assert isinstance(lenient.process(dict(fortune)), Kept)
    cfg = HeuristicFiltersConfig.model_validate({"c4_quality": {"enabled": False},
                                                 "gopher_repetition": {"params": {"top_n_grams": [[2, 0.3]]}}})
    assert list(cfg.enabled_filters()) == ["gopher_repetition", "gopher_quality", "fineweb_quality"]


def test_unknown_datatrove_parameter_is_a_config_error():
    with pytest.raises(Exception, match="min_doc_wordz"):
        HeuristicFiltersConfig.model_validate({"gopher_quality": {"params": {"min_doc_wordz": 3}}})


def test_repetition_fractions_are_stored_as_signals():
    text = next(r["text"] for r in sample_records("shakespeare.jsonl.zst") if len(r["text"]) > 3000)
    outcome = HeuristicFilters("hf", {"gopher_repetition": {"dup_line_frac": None, "dup_line_char_frac": None,
                                                            "top_n_grams": [], "dup_n_grams": [[10, 1.0]]}}
                               ).process({"id": "s", "text": text})
    signals = outcome.doc["signals"]
    assert isinstance(outcome, Kept), outcome
    assert set(signals) >= {"dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_10_gram_char_frac"}
    assert all(0.0 <= signals[k] <= 1.0 for k in signals if k.startswith("dup_"))
