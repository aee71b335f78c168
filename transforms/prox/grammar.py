"""The ProX program languages as decoding constraints, so a small model can only write well-formed programs.

Document level: exactly ``drop_doc()`` or ``keep_doc()`` (a choice). Chunk level:
one call per line, each ``remove_lines(line_start=N, line_end=M)`` with N and M
among the chunk's own line numbers, ``normalize(source_str="…", target_str="…")``
(double-quoted strings with ``\\"``, ``\\\\`` and ``\\n`` escapes, as the
parser reads them) or ``keep_chunk()``. The grammar is GBNF/EBNF as xgrammar
(vLLM's default structured-output backend) reads it. Under it a program is
malformed only when ``max_tokens`` cuts its last line, which the stage drops and
counts (``complete_lines``).
"""
from __future__ import annotations

from transforms.llm.api import Constraint

DOC_CONSTRAINT = Constraint(choice=("drop_doc()", "keep_doc()"))
_CHUNK_RULES = r'''root ::= line+
line ::= call "\n"
call ::= remove | normalize | keep
remove ::= "remove_lines(line_start=" num ", line_end=" num ")"
normalize ::= "normalize(source_str=\"" str "\", target_str=\"" str "\")"
keep ::= "keep_chunk()"
str ::= ([^"\\\n] | "\\" ["\\n])*
'''


def chunk_grammar(first: int, last: int) -> str:
    """The chunk grammar with line numbers limited to ``first..last`` (the chunk's lines, as numbered in its prompt)."""
    if not 0 <= first <= last:
        raise ValueError(f"bad line range {first}..{last}")
    numbers = " | ".join(f'"{n}"' for n in range(first, last + 1))
    return _CHUNK_RULES + f"num ::= {numbers}\n"


def chunk_constraint(first: int, last: int) -> Constraint:
    return Constraint(grammar=chunk_grammar(first, last))


def complete_lines(text: str) -> tuple[str, bool]:
    """A program cut by ``max_tokens``: its complete lines, and whether a partial last line was dropped."""
    if not text or text.endswith("\n"):
        return text, False
    cut = text.rfind("\n")
    return text[:cut + 1], True
