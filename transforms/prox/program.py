"""ProX programs: a strict parser for the refining language. Never exec/eval.

Each statement is parsed with ``ast.parse(..., mode="eval")`` and walked over a
whitelist: a call of a known function name with keyword arguments whose
values are string or integer literals (a unary minus on an integer is read;
the executor clips line numbers to the document). Anything else is a malformed
call: it is reported as an error and skipped, never raised. Python's own
tokenizer handles single/double quotes, escaped quotes, commas and
parentheses inside strings — the places where the reference implementation's
regex parsing breaks.

A statement may span lines (a string with an escaped newline, a call broken
after a comma): a line that does not parse is joined with up to
``_MAX_JOIN`` following lines before it is declared malformed. A line holding
several calls (what a program cut off by ``max_tokens`` often repeats) runs its
first complete call and counts no error, as the authors' executor does
(GAIR-NLP/ProX ``utils/chunk_utils.py`` reads a line up to its first ``)``);
the first call is found by Python's tokenizer, so a ``)`` inside a string does
not end it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

DOC_FUNCTIONS = {"drop_doc": (), "keep_doc": ()}
CHUNK_FUNCTIONS = {
    "remove_lines": ("line_start", "line_end"),
    "normalize": ("source_str", "target_str"),
    "keep_chunk": (),
}
# The authors' models also write start=/end=; accept both spellings.
ALIASES = {"start": "line_start", "end": "line_end"}
_MAX_JOIN = 8
_MAX_PROGRAM_CHARS = 200_000


@dataclass(frozen=True)
class Call:
    name: str
    kwargs: tuple[tuple[str, object], ...] = ()

    def arg(self, key: str, default=None):
        return dict(self.kwargs).get(key, default)

    def render(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs)
        return f"{self.name}({args})"


@dataclass
class Program:
    calls: list[Call] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def render(self) -> str:
        return "\n".join(c.render() for c in self.calls)


def _literal(node: ast.AST) -> object:
    if isinstance(node, ast.Constant) and type(node.value) in (str, int):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) is int):
        return -node.operand.value
    raise ValueError(f"argument is not a string or integer literal: {type(node).__name__}")


def _call(tree: ast.Expression, functions: dict[str, tuple[str, ...]]) -> Call:
    node = tree.body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError("statement is not a plain function call")
    name = node.func.id
    if name not in functions:
        raise ValueError(f"unknown function {name!r}")
    if node.args:
        raise ValueError(f"{name}: positional arguments are not accepted")
    allowed = functions[name]
    kwargs = []
    for kw in node.keywords:
        if kw.arg is None:
            raise ValueError(f"{name}: **kwargs are not accepted")
        key = ALIASES.get(kw.arg, kw.arg)
        if key not in allowed:
            raise ValueError(f"{name}: unexpected argument {kw.arg!r}")
        if key in dict(kwargs):
            raise ValueError(f"{name}: argument {key!r} given twice")
        kwargs.append((key, _literal(kw.value)))
    return Call(name, tuple(kwargs))


def _first_call(line: str) -> ast.Expression | None:
    """The shortest prefix of ``line`` that parses as one expression ending at a ``)``, if any."""
    for end, char in enumerate(line):
        if char == ")":
            try:
                tree = ast.parse(line[:end + 1], mode="eval")
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                continue
            if isinstance(tree.body, ast.Call):
                return tree
    return None


def _strip_fences(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("```") or stripped.startswith("#"):
            continue
        lines.append(stripped)
    return lines


def parse_program(text: str, functions: dict[str, tuple[str, ...]]) -> Program:
    """Parse a program for the given function table (``DOC_FUNCTIONS`` or ``CHUNK_FUNCTIONS``)."""
    program = Program()
    if not isinstance(text, str):
        program.errors.append("program is not text")
        return program
    if len(text) > _MAX_PROGRAM_CHARS:
        program.errors.append(f"program longer than {_MAX_PROGRAM_CHARS} characters")
        text = text[:_MAX_PROGRAM_CHARS]
    lines = _strip_fences(text)
    i = 0
    while i < len(lines):
        tree, used, syntax_error = None, 1, None
        for j in range(i + 1, min(len(lines), i + _MAX_JOIN) + 1):
            try:
                tree = ast.parse("\n".join(lines[i:j]), mode="eval")
                used = j - i
                break
            except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
                syntax_error = syntax_error or f"{type(exc).__name__}: {exc}"
        if tree is None:
            tree = _first_call(lines[i])
        if tree is None:
            program.errors.append(f"line {i}: {syntax_error}: {lines[i][:120]!r}")
            i += 1
            continue
        try:
            program.calls.append(_call(tree, functions))
        except (ValueError, RecursionError) as exc:
            program.errors.append(f"line {i}: {exc}")
        i += used
    return program
