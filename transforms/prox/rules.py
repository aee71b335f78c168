"""The rule-based ProX program writer: boilerplate lines → ``remove_lines`` calls.

It writes the same language a refining model writes, so its programs run
through the same parser and executor and can be exported as (document,
program) training pairs. A line is boilerplate when:

- it matches a banner/footer pattern: navigation glyph lines (``»``, ``|``,
  ``«``, "Skip to content"), cookie / subscribe / share / sign-in banners,
  copyright and "last updated"/"created using" footers (footers only in the
  last ``footer_lines`` lines, so a license file's own Copyright lines stay);
- its normalized form repeats across at least ``repeat_min_frac`` of the
  documents of its source (the set is computed in Beam over the whole source,
  see ``transforms.prox.prox_stage``) — menus, sidebars, footers of one site — and
  it is part of a block (a neighbouring text line is repeated or boilerplate
  too) or has ``repeat_min_words_alone`` words or more: a short repeated line
  alone among unique lines is recurring content (``[Exeunt.]``, "Tip");
- it is a short line (``short_words`` words or fewer) in a run of at most
  ``max_short_run`` short text lines that is enclosed by boilerplate lines, or
  by one boilerplate line and the document's edge: a table of contents or
  breadcrumb between two menu lines.

Inline residue (Sphinx's ``¶`` heading anchors) is removed with ``normalize``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AbstractSet

import xxhash

_NAV = re.compile(
    r"^(?:[|»«›‹·•>/\\-]+|.*\s[»›|]|[«‹]\s.*|(?:skip to (?:main )?content|main menu|menu|navigation|"
    r"toggle navigation|back to top|home|search|log ?in|sign ?in|sign ?up|register|next|previous|"
    r"next topic|previous topic|table of contents|contents|this page|show source|report a bug|index|"
    r"modules)\s*[|»]?)$",
    re.IGNORECASE,
)
_BANNER = re.compile(
    r"\b(?:we use cookies|this (?:web)?site uses cookies|accept (?:all )?cookies|cookie (?:policy|settings)|"
    r"subscribe to (?:our|the) newsletter|sign up for (?:our|the) newsletter|share (?:this|on) "
    r"(?:facebook|twitter|linkedin|x|email)|follow us on|privacy policy|terms of (?:use|service))\b",
    re.IGNORECASE,
)
_FOOTER = re.compile(
    r"(?:©|\(c\)\s*\d{4}|\bcopyright\s+(?:©\s*)?\d{4}|all rights reserved|\blast updated on\b|"
    r"\bcreated using\b|\bpowered by\b|\bfound a bug\?)",
    re.IGNORECASE,
)
_INLINE_RESIDUE = ("¶",)


@dataclass(frozen=True)
class RuleConfig:
    footer_lines: int = 15
    short_words: int = 10
    max_short_run: int = 100  # text lines; a long page's sidebar table of contents exceeds 40
    repeat_min_words_alone: int = 6
    footer_max_words: int = 40


def line_key(line: str) -> int:
    """Hash of a line's whitespace-folded, lowercased form (what 'repeated' compares)."""
    return xxhash.xxh64_intdigest(" ".join(line.split()).lower().encode("utf-8"))


def boilerplate_flags(lines: list[str], repeated: AbstractSet[int] = frozenset(),
                      cfg: RuleConfig = RuleConfig()) -> list[bool]:
    n = len(lines)
    flags = [False] * n
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        words = len(line.split())
        if _NAV.match(line) and words <= cfg.short_words:
            flags[i] = True
        elif _BANNER.search(line) and words <= cfg.footer_max_words:
            flags[i] = True
        elif i >= n - cfg.footer_lines and _FOOTER.search(line) and words <= cfg.footer_max_words:
            flags[i] = True
    if repeated:
        _flag_repeated_blocks(lines, flags, repeated, cfg.repeat_min_words_alone)
    _absorb_short_runs(lines, flags, cfg)
    return flags


def _flag_repeated_blocks(lines: list[str], flags: list[bool], repeated: AbstractSet[int],
                          min_words_alone: int) -> None:
    """Flag source-repeated lines that sit next to another repeated or boilerplate line,
    or that are long enough (``min_words_alone``) that recurring verbatim is not chance.

    Site templates (menus, sidebars, footers) repeat as blocks of lines. A repeated
    line alone among unique lines is more often recurring content: a play's
    ``[Exeunt.]``, an admonition's "Tip", the ``.`` paragraph separator of Debian
    copyright files; removing those (and absorbing the short lines around them)
    damaged plays and copyright files.
    """
    text_idx = [i for i, line in enumerate(lines) if line.strip()]
    is_rep = {i: line_key(lines[i]) in repeated for i in text_idx}
    for pos, i in enumerate(text_idx):
        if flags[i] or not is_rep[i]:
            continue
        neighbours = text_idx[max(0, pos - 1):pos] + text_idx[pos + 1:pos + 2]
        if len(lines[i].split()) >= min_words_alone or any(is_rep[k] or flags[k] for k in neighbours):
            flags[i] = True


def _absorb_short_runs(lines: list[str], flags: list[bool], cfg: RuleConfig) -> None:
    n = len(lines)
    i = 0
    while i < n:
        if flags[i] or not lines[i].strip():
            i += 1
            continue
        j = i
        while j < n and not flags[j] and (not lines[j].strip() or len(lines[j].split()) <= cfg.short_words):
            j += 1
        # run [i, j) of short/blank lines; enclosed if both sides are boilerplate or an edge
        left = _prev_nonblank(lines, i)
        left_bp = left is None or flags[left]
        right_bp = j >= n or flags[j]
        touches_bp = (left is not None and flags[left]) or (j < n and flags[j])
        # The bound counts text lines: rendered pages put a blank line between items.
        run_lines = sum(1 for k in range(i, j) if lines[k].strip())
        if left_bp and right_bp and touches_bp and run_lines <= cfg.max_short_run:
            for k in range(i, j):
                if lines[k].strip():
                    flags[k] = True
        i = max(j, i + 1)


def _prev_nonblank(lines: list[str], i: int) -> int | None:
    k = i - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    return k if k >= 0 else None


def write_chunk_program(text: str, repeated: AbstractSet[int] = frozenset(), cfg: RuleConfig = RuleConfig()) -> str:
    """A chunk-level program for the whole document (line numbers over the whole text)."""
    lines = text.split("\n")
    flags = boilerplate_flags(lines, repeated, cfg)
    calls = [f"normalize(source_str={s!r})" for s in _INLINE_RESIDUE if s in text]
    # Residue removal never changes the line count, so the numbering below stays valid.
    i = 0
    while i < len(lines):
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and (flags[j + 1] or (not lines[j + 1].strip() and j + 2 < len(lines) and flags[j + 2])):
            j += 1
        calls.append(f"remove_lines(line_start={i}, line_end={j})")
        i = j + 1
    return "\n".join(calls) if calls else "keep_chunk()"


def write_doc_program(text: str) -> str:
    """The rule writer never drops a whole document; the chunk rules drop what is all boilerplate."""
    return "keep_doc()"
