"""Split a document into sentences per paragraph, and put translated sentences back in place.

Sentences come from pysbd (rule-based sentence boundary detection, many
languages). Paragraphs (blocks separated by blank lines) are kept: the
translation has the same paragraph breaks. Line breaks inside a paragraph are
unwrapped first, because hard-wrapped lines cut sentences in half and an MT
model translates halves badly. A sentence longer than ``max_chars`` (code,
tables, lists without punctuation) is split at whitespace, so one segment
cannot exceed what the MT model handles.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SPACES = re.compile(r"\s+")
_FALLBACK_LANG = "en"


@dataclass(frozen=True)
class Segmented:
    """``paragraphs[p]`` is the list of sentence segments of paragraph ``p``.

    ``glue[p][i]`` is what followed segment ``i`` in the source (" " or "" when
    the segmenter cut inside a run of characters), so reassembly adds no spaces.
    """

    paragraphs: tuple[tuple[str, ...], ...]
    glue: tuple[tuple[str, ...], ...]

    @property
    def segments(self) -> list[str]:
        return [s for para in self.paragraphs for s in para]

    def reassemble(self, translated: list[str]) -> str:
        """Translated segments, in ``segments`` order, joined back into paragraphs."""
        if len(translated) != len(self.segments):
            raise ValueError(f"{len(translated)} translations for {len(self.segments)} segments")
        out, i = [], 0
        for para, glue in zip(self.paragraphs, self.glue):
            pieces = [t.strip() + g for t, g in zip(translated[i:i + len(para)], glue) if t.strip()]
            out.append("".join(pieces).strip())
            i += len(para)
        return "\n\n".join(p for p in out if p)


@lru_cache(maxsize=32)
def _segmenter(lang: str):
    import pysbd
    from pysbd.languages import LANGUAGE_CODES

    return pysbd.Segmenter(language=lang if lang in LANGUAGE_CODES else _FALLBACK_LANG, clean=False)


def split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    pieces, current = [], ""
    for word in sentence.split(" "):
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def covering_sentences(flat: str, sentences: list[str]) -> list[str]:
    """pysbd's sentences, plus any text of ``flat`` it left out, in order: pysbd can drop a
    trailing run of punctuation (``"a? ??"`` → ``["a? "]``), and a translation must lose no word."""
    out, cursor = [], 0
    for sentence in sentences:
        start = flat.find(sentence, cursor) if sentence else -1
        if start < 0:
            continue
        if flat[cursor:start].strip():
            out.append(flat[cursor:start])
        out.append(sentence)
        cursor = start + len(sentence)
    if flat[cursor:].strip():
        out.append(flat[cursor:])
    return out


def segment(text: str, lang: str = "en", max_chars: int = 1000) -> Segmented:
    paragraphs, glues = [], []
    for block in _PARAGRAPH_BREAK.split(text):
        flat = _SPACES.sub(" ", block).strip()
        if not flat:
            continue
        pieces, glue = [], []
        for raw in covering_sentences(flat, _segmenter(lang).segment(flat)):
            if not raw.strip():
                continue
            parts = split_long(raw.strip(), max_chars)
            pieces += parts
            glue += [" "] * (len(parts) - 1) + [" " if raw[-1:].isspace() else ""]
        if pieces:
            paragraphs.append(tuple(pieces))
            glues.append(tuple(glue))
    return Segmented(tuple(paragraphs), tuple(glues))
