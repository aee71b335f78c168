"""The ProX parser and executor: the issue's exact rules, and fuzzing (never raises, never runs)."""
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.prox.executor import DROP_CHUNKS, DROP_DOC, TOO_SHORT, ChunkRules, run_chunk_program, run_doc_program
from transforms.prox.program import CHUNK_FUNCTIONS, DOC_FUNCTIONS, parse_program

TEXT = "\n".join(f"line {i} has some words in it for counting purposes" for i in range(10))


def test_quotes_commas_parens_and_escapes_inside_strings():
    prog = parse_program(
        """normalize(source_str="a, (b) \\" c", target_str='x')\n"""
        """normalize(source_str='it\\'s)', target_str="")""", CHUNK_FUNCTIONS)
    assert prog.errors == []
    assert [c.arg("source_str") for c in prog.calls] == ['a, (b) " c', "it's)"]


def test_aliases_fences_and_multiline_calls():
    prog = parse_program("```python\nremove_lines(start=1, end=2)\nremove_lines(line_start=3,\n line_end=4)\n```",
                         CHUNK_FUNCTIONS)
    assert prog.errors == []
    assert [(c.arg("line_start"), c.arg("line_end")) for c in prog.calls] == [(1, 2), (3, 4)]


def test_malformed_calls_are_errors_not_exceptions():
    prog = parse_program("foo()\nremove_lines(1, 2)\nnormalize(source_str=x)\nos.system('ls')\n"
                         "remove_lines(line_start=1, line_start=2)\nkeep_chunk(\n", CHUNK_FUNCTIONS)
    assert prog.calls == [] and len(prog.errors) == 6


def test_normalize_runs_before_remove_lines_over_whole_text():
    text = "keep AAA\nremove me\nkeep AAA too and more words here to stay long enough for the rules"
    res = run_chunk_program(text, "remove_lines(line_start=1, line_end=1)\nnormalize(source_str='AAA', target_str='b')")
    assert res.drop_reason is None and res.applied and res.errors == []
    assert res.text == "keep b\nkeep b too and more words here to stay long enough for the rules"


def test_normalize_with_only_source_deletes():
    res = run_chunk_program(TEXT, "normalize(source_str=' purposes')")
    assert "purposes" not in res.text and res.applied


def test_line_numbers_are_global_and_inclusive():
    res = run_chunk_program(TEXT, "remove_lines(line_start=2, line_end=4)")
    assert [line.split()[1] for line in res.text.split("\n")] == ["0", "1", "5", "6", "7", "8", "9"]


def test_one_error_still_applies_two_errors_keep_original():
    one = run_chunk_program(TEXT, "remove_lines(line_start=0, line_end=0)\nremove_lines(line_start=5, line_end=99)")
    assert one.applied and len(one.errors) == 1 and not one.text.startswith("line 0 ")
    two = run_chunk_program(TEXT, "remove_lines(line_start=0, line_end=0)\nremove_lines(line_start=5, line_end=99)\nbad(")
    assert not two.applied and len(two.errors) == 2 and two.text == TEXT and two.drop_reason is None


def test_drop_rules():
    everything = run_chunk_program(TEXT, "remove_lines(line_start=0, line_end=9)")
    assert everything.drop_reason == DROP_CHUNKS
    short = run_chunk_program("just a few words here\n" + "x " * 30, "remove_lines(line_start=1, line_end=1)",
                              ChunkRules(drop_ratio=0.05, min_words=10))
    assert short.drop_reason == TOO_SHORT
    # Too many errors: no drop_chunks, but a document that is too short either way is dropped.
    assert run_chunk_program("tiny doc", "bad(\nworse(").drop_reason == TOO_SHORT


def test_doc_level():
    assert run_doc_program(TEXT, "drop_doc()").drop_reason == DROP_DOC
    assert run_doc_program(TEXT, "keep_doc()").drop_reason is None
    junk = run_doc_program(TEXT, "I think drop_doc")
    assert junk.drop_reason is None and junk.errors and not junk.applied
    assert parse_program("remove_lines(line_start=1, line_end=1)", DOC_FUNCTIONS).errors


_pieces = st.sampled_from(["remove_lines", "normalize", "keep_chunk", "drop_doc", "(", ")", ",", "=", "'", '"',
                           "\\", "line_start", "source_str", "1", "-3", "\n", " ", "__import__('os')", "lambda: 0",
                           "open('/tmp/x','w')", "[1]*10**9", "f'{x}'", "```", "#", "*", "**k"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(_pieces, max_size=40).map("".join)))
def test_fuzz_parser_and_executor_never_raise(program):
    for functions in (DOC_FUNCTIONS, CHUNK_FUNCTIONS):
        prog = parse_program(program, functions)
        for call in prog.calls:
            assert call.name in functions
            assert all(type(v) in (int, str) for _, v in call.kwargs)
    run_chunk_program(TEXT, program)
    run_doc_program(TEXT, program)


def test_parsing_never_executes(tmp_path):
    marker = tmp_path / "ran"
    program = f"open({str(marker)!r}, 'w').write('x')\n__import__('os').system('touch {marker}')\n" \
              f"normalize(source_str=__import__('os').system('touch {marker}'))"
    prog = parse_program(program, CHUNK_FUNCTIONS)
    run_chunk_program(TEXT, program)
    assert prog.calls == [] and len(prog.errors) == 3
    assert not os.path.exists(marker)


def test_a_line_with_several_calls_runs_its_first_call_and_counts_no_error():
    """The authors' executor reads a line up to its first ')': a program cut off by max_tokens repeats calls."""
    prog = parse_program("remove_lines(line_start=1, line_end=2)remove_lines(line_start=5, line_end=6)\n"
                         "normalize(source_str='a)b', target_str='c') keep_chunk() normalize(source_str='x'",
                         CHUNK_FUNCTIONS)
    assert prog.errors == []
    assert [c.render() for c in prog.calls] == ["remove_lines(line_start=1, line_end=2)",
                                                "normalize(source_str='a)b', target_str='c')"]
    res = run_chunk_program(TEXT, "remove_lines(line_start=0, line_end=0) remove_lines(line_start=9, line_end=9)")
    assert res.errors == [] and res.applied and res.text.split("\n")[0].startswith("line 1 ")
    assert res.text.split("\n")[-1].startswith("line 9 ")  # the line's second call did not run


def test_a_range_past_the_end_is_clipped_and_counts_one_error():
    """The authors clip ranges to the document after merging them, one error per merged range past the end."""
    res = run_chunk_program(TEXT, "remove_lines(line_start=8, line_end=99)\nremove_lines(line_start=7, line_end=50)")
    assert res.applied and len(res.errors) == 1 and "clipped" in res.errors[0]
    assert [line.split()[1] for line in res.text.split("\n")] == ["0", "1", "2", "3", "4", "5", "6"]
    beyond = run_chunk_program(TEXT, "remove_lines(line_start=12, line_end=20)")
    assert len(beyond.errors) == 1 and "starts past" in beyond.errors[0] and beyond.text == TEXT
    # like the authors': a negative start is clipped to the first line, a reversed range removes nothing,
    # neither is an error, and an empty source_str is skipped without one
    quiet = run_chunk_program(TEXT, "remove_lines(line_start=-3, line_end=1)\nremove_lines(line_start=6, "
                                    "line_end=4)\nnormalize(source_str='', target_str='x')")
    assert quiet.errors == [] and quiet.text.split("\n")[0].startswith("line 2 ") and len(quiet.text.split("\n")) == 8
