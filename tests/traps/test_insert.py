"""Trap placement: seeded hosts independent of order, each trap once, at a sentence boundary."""
import pysbd
import pytest

from transforms.traps.copyright_traps import build_plan
from transforms.traps.generate import Trap
from transforms.traps.insert import host_rank, insert_traps, sentence_starts

TEXT = ("Dr. Smith went to Washington on Tuesday. He arrived at 3 p.m. and left soon after!  "
        "Then nothing happened for a while.\n\nA new paragraph starts here. It ends here.")
SEGMENTER = pysbd.Segmenter(language="en", clean=False, char_span=True)


def test_a_trap_goes_in_once_at_a_sentence_start_and_removing_it_gives_the_text_back():
    trap = "Marnie Tollwood kept eleven brass keys under the bakery stairs."
    starts = sentence_starts(TEXT, SEGMENTER)
    assert starts[0] == 0 and starts[-1] == len(TEXT) and TEXT[starts[1]:].startswith("He arrived")
    for doc_id in ("a", "b", "c", "d", "e", "f"):
        out = insert_traps(TEXT, [("t1", trap)], doc_id, seed=7, where="sentence_boundary", segmenter=SEGMENTER)
        assert out.count(trap) == 1
        at = out.index(trap)
        assert at in starts or at == len(TEXT) + 1  # "Dr." and "p.m." are not boundaries
        assert out.replace(trap + " ", "", 1) == TEXT or out == TEXT + " " + trap


def test_several_traps_in_one_host_take_distinct_boundaries_each_once():
    traps = [(f"t{i}", f"Invented sentence number {i} about the salt marsh of Kellavore.") for i in range(4)]
    out = insert_traps(TEXT, traps, "doc-9", seed=1, where="sentence_boundary", segmenter=SEGMENTER)
    positions = sorted(out.index(t) for _, t in traps)
    assert all(out.count(t) == 1 for _, t in traps)
    assert all(b - a > len(traps[0][1]) for a, b in zip(positions, positions[1:]))  # never glued together


def test_append_puts_each_trap_in_a_paragraph_at_the_end():
    out = insert_traps("Body text.", [("b", "Second."), ("a", "First.")], "d", seed=0, where="append")
    assert out == "Body text.\n\nFirst.\n\nSecond."


def test_host_rank_is_a_pure_function_of_seed_trap_and_document():
    assert host_rank(3, "t", "doc") == host_rank(3, "t", "doc")
    assert len({host_rank(3, "t", f"doc{i}") for i in range(1000)}) == 1000
    assert host_rank(3, "t", "doc") != host_rank(4, "t", "doc") != host_rank(3, "u", "doc")


def _trap(trap_id, reps, text):
    return Trap(trap_id, text, 8, 12.5, 8, reps, None, 1.0)


def test_the_plan_takes_the_smallest_ranks_withdraws_found_sequences_and_keeps_texts_out_of_the_stats():
    traps = [_trap("trap-a-0", 2, "alpha text"), _trap("trap-a-1", 2, "beta text"), _trap("control-a-0", 2, "gamma")]
    candidates = [("trap-a-0", [(5, "d5"), (1, "d1"), (3, "d3")]), ("trap-a-1", [(2, "d2"), (9, "d9"), (4, "d4")])]
    plan = build_plan(3, candidates, ["trap-a-1"], traps, {"generator": {}, "reference": {}}, [], "copyright_traps")
    assert plan["by_doc"] == {"d1": ["trap-a-0"], "d3": ["trap-a-0"]}  # trap-a-1 occurs in the corpus: withdrawn
    stats = dict(plan["stats"])
    key = {row["trap_id"]: row for row in stats.pop("trap_key")}
    assert key["trap-a-0"]["hosts"] == ["d1", "d3"] and key["trap-a-1"]["withdrawn"] and not key["trap-a-1"]["hosts"]
    assert key["control-a-0"]["repetitions"] == 0 and key["control-a-0"]["hosts"] == []
    assert (stats["traps"], stats["controls"], stats["withdrawn"], stats["insertions"]) == (1, 1, 1, 2)
    assert "alpha" not in repr(stats) and "gamma" not in repr(stats) and stats["warnings"]


def test_fewer_eligible_documents_than_the_largest_repetition_count_is_an_error():
    with pytest.raises(ValueError, match="2 eligible document.*largest repetition count \\(3\\)"):
        build_plan(2, [], [], [_trap("trap-x-0", 3, "x")], {}, [], "copyright_traps")
