"""The ProX grammar as text and the cut of a truncated program (the engine-backed checks are in tests/llm)."""
import pytest

from transforms.prox.grammar import DOC_CONSTRAINT, chunk_constraint, chunk_grammar, complete_lines
from transforms.prox.program import CHUNK_FUNCTIONS, parse_program
from transforms.prox.prox_stage import ProxConfig


def test_chunk_grammar_bounds_line_numbers_to_the_chunk():
    grammar = chunk_grammar(12, 14)
    assert 'num ::= "12" | "13" | "14"' in grammar and "root ::= line+" in grammar
    assert chunk_constraint(0, 0).form == "grammar" and DOC_CONSTRAINT.choice == ("drop_doc()", "keep_doc()")
    with pytest.raises(ValueError):
        chunk_grammar(5, 4)


def test_a_truncated_program_keeps_its_complete_lines():
    text = 'remove_lines(line_start=1, line_end=2)\nnormalize(source_str="a\\"b", target_str="")\nremove_lin'
    kept, cut = complete_lines(text)
    assert cut and kept.count("\n") == 2
    program = parse_program(kept, CHUNK_FUNCTIONS)
    assert program.errors == [] and [c.arg("source_str") for c in program.calls if c.name == "normalize"] == ['a"b']
    assert complete_lines("keep_chunk()\n") == ("keep_chunk()\n", False)
    assert complete_lines("keep_ch") == ("", True)


def test_constrained_model_writer_needs_a_backend_that_can_decode_grammars():
    assert ProxConfig(writer="model").constrained  # the default
    with pytest.raises(ValueError, match="constrained: true needs"):
        ProxConfig(writer="model", backend={"kind": "openai", "server": "other"})
    ProxConfig(writer="model", constrained=False, backend={"kind": "openai", "server": "other"})


def test_chunks_know_their_line_range():
    from transforms.prox.prompts import chunks_of

    text = "\n".join(f"line {i} " + "word " * (i % 7) for i in range(40))
    chunks = chunks_of(text, lambda s: s.split(), max_tokens=25)
    assert len(chunks) > 3 and chunks[0].first == 0 and chunks[-1].last == 39
    for a, b in zip(chunks, chunks[1:]):
        assert b.first == a.last + 1
    for c in chunks:
        numbered = c.text.split("\n")[1:-1]
        assert numbered[0].startswith(f"[{c.first:03d}]") and numbered[-1].startswith(f"[{c.last:03d}]")
