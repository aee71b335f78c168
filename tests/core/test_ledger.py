import json

from transforms.core.ledger import build_ledger, ledger_violations


def line(stage, outcome, count, reason=""):
    return json.dumps({"stage": stage, "outcome": outcome, "reason": reason, "count": count})


def test_balanced_ledger_has_no_violations_and_keeps_order():
    lines = [
        line("dedup", "in", 8), line("dedup", "kept", 6), line("dedup", "dropped", 2, "exact_duplicate"),
        line("normalize", "in", 10), line("normalize", "kept", 8), line("normalize", "dropped", 1, "empty"),
        line("normalize", "quarantined", 1, "malformed_json"),
    ]
    ledger = build_ledger(lines, ["normalize", "dedup"])
    assert [e["stage"] for e in ledger] == ["normalize", "dedup"]
    assert ledger[0]["errors"] == {"malformed_json": 1}
    assert ledger[1]["reasons"] == {"exact_duplicate": 2}
    assert ledger_violations(ledger) == []


def test_lost_records_and_broken_chain_are_reported():
    lines = [line("normalize", "in", 10), line("normalize", "kept", 8), line("dedup", "in", 7), line("dedup", "kept", 7)]
    problems = ledger_violations(build_ledger(lines, ["normalize", "dedup"]))
    assert any("normalize: in=10 but kept+dropped+quarantined=8" in p for p in problems)
    assert any("dedup: in=7 but normalize kept 8" in p for p in problems)


def test_stage_with_no_input_is_listed_with_zeros():
    ledger = build_ledger([], ["normalize", "exact_dedup"])
    assert ledger[1] == {"stage": "exact_dedup", "in": 0, "kept": 0, "dropped": 0, "quarantined": 0, "reasons": {}, "errors": {}}


def test_a_written_ledger_line_reads_back_as_its_count():
    """A resumed run sums its stages' written ledger lines again (``pipelines/resume.py``)."""
    from transforms.core.ledger import ledger_count, ledger_line

    entry = (("minhash_dedup", "dropped", "near_duplicate"), 6)
    assert ledger_count(ledger_line(entry)) == entry
