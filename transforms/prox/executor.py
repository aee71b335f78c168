"""The ProX executor: apply a parsed program to a document, then the keep/drop rule.

Document level: the first valid ``drop_doc()``/``keep_doc()`` decides; a
program with no valid call keeps the document (and counts its errors).

Chunk level, with the authors' semantics (GAIR-NLP/ProX ``utils/chunk_utils.py``):
every ``normalize`` runs first, over the whole text (an empty or one-space
``source_str`` is skipped, not an error); then the ``remove_lines`` ranges
(0-based, inclusive, numbered over the whole document as shown in the prompt)
are removed from the normalized text's lines, each clipped to the document:
after overlapping and touching ranges are merged, a range that ends past the
last line is clipped there and counts one error, one that starts past it
removes nothing and counts one error; a reversed range removes nothing. Calls
that do not parse, or whose arguments are not integers / strings, are errors.
Then:

1. kept words / original words <= ``drop_ratio`` and errors < ``max_errors`` → drop ``prox_drop_chunks``
2. else kept words <= ``min_words`` → drop ``prox_too_short``
3. else errors < ``max_errors`` → the refined text
4. else the original text (the bad program is discarded and recorded).

Rule 2 applies whatever the error count, as in the issue's rule list: a
document that would be this short after any reading of the program is
dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from transforms.prox.program import CHUNK_FUNCTIONS, DOC_FUNCTIONS, Program, parse_program

DROP_DOC = "prox_drop_doc"
DROP_CHUNKS = "prox_drop_chunks"
TOO_SHORT = "prox_too_short"


@dataclass(frozen=True)
class ChunkRules:
    drop_ratio: float = 0.05
    min_words: int = 10
    max_errors: int = 2


@dataclass
class Result:
    text: str  # the text to keep (refined, or original when the program was discarded)
    drop_reason: str | None = None
    errors: list[str] = field(default_factory=list)
    applied: bool = False  # the program's edits are in ``text``
    program: str = ""  # the valid calls, rendered
    statements: int = 0  # the valid calls (what runs when ``applied``)


def word_count(text: str) -> int:
    return len(text.split())


def run_doc_program(text: str, program_text: str) -> Result:
    program = parse_program(program_text, DOC_FUNCTIONS)
    decision = program.calls[0].name if program.calls else None
    return Result(text, DROP_DOC if decision == "drop_doc" else None, program.errors,
                  applied=decision is not None, program=program.render(), statements=min(1, len(program.calls)))


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted by start; a range that overlaps or touches the previous one extends it (the authors' merge)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges, key=lambda r: r[0]):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def apply_chunk_program(text: str, program: Program) -> tuple[str, list[str]]:
    """The refined text and the execution errors (parse errors not included)."""
    errors: list[str] = []
    for call in program.calls:
        if call.name != "normalize":
            continue
        source, target = call.arg("source_str"), call.arg("target_str", "")
        if not isinstance(source, str) or not isinstance(target, str):
            errors.append(f"normalize needs string arguments: {call.render()}")
            continue
        if source not in ("", " "):
            text = text.replace(source, target)
    lines = text.split("\n")
    ranges = []
    for call in program.calls:
        if call.name != "remove_lines":
            continue
        start, end = call.arg("line_start"), call.arg("line_end")
        if not isinstance(start, int) or not isinstance(end, int):
            errors.append(f"remove_lines needs integer line_start and line_end: {call.render()}")
            continue
        ranges.append((start, end))
    last = len(lines) - 1
    for start, end in merge_ranges(ranges):
        if start > last:
            errors.append(f"line range {start}-{end} starts past the last line {last}")
        elif end > last:
            errors.append(f"line range {start}-{end} clipped to the last line {last}")
    remove = {k for start, end in ranges for k in range(max(start, 0), min(end, last) + 1)}
    return "\n".join(line for k, line in enumerate(lines) if k not in remove), errors


def run_chunk_program(text: str, program_text: str, rules: ChunkRules = ChunkRules()) -> Result:
    program = parse_program(program_text, CHUNK_FUNCTIONS)
    refined, exec_errors = apply_chunk_program(text, program)
    errors = program.errors + exec_errors
    ok = len(errors) < rules.max_errors
    original_words = word_count(text)
    kept_words = word_count(refined)
    rendered, n = program.render(), len(program.calls)
    if original_words and kept_words / original_words <= rules.drop_ratio and ok:
        return Result(refined, DROP_CHUNKS, errors, True, rendered, n)
    if kept_words <= rules.min_words:
        return Result(refined, TOO_SHORT, errors, ok, rendered, n)
    if ok:
        return Result(refined, None, errors, True, rendered, n)
    return Result(text, None, errors, False, rendered, n)
