"""``corpusmill prox run-program``: apply one program file to one text file, for debugging programs.

Prints the resulting text to stdout. A dropped document prints nothing to
stdout and the reason to stderr (exit 0). Program errors go to stderr.
"""
from __future__ import annotations

import sys

from transforms.prox.executor import run_chunk_program, run_doc_program


def run_program(stage: str, program_path: str, input_path: str) -> int:
    with open(program_path, encoding="utf-8") as f:
        program = f.read()
    with open(input_path, encoding="utf-8") as f:
        text = f.read()
    result = run_doc_program(text, program) if stage == "doc" else run_chunk_program(text, program)
    for error in result.errors:
        print(f"program error: {error}", file=sys.stderr)
    if stage == "chunk" and not result.applied and result.drop_reason is None:
        print(f"program discarded ({len(result.errors)} errors): original text kept", file=sys.stderr)
    if result.drop_reason:
        print(f"dropped: {result.drop_reason}", file=sys.stderr)
        return 0
    sys.stdout.write(result.text)
    return 0
