"""Words, their character spans and their n-gram hashes, for decontamination.

A match must survive changes of whitespace, case and punctuation, so words are
maximal runs of letters and digits, NFKC-normalized and case-folded. Redaction
needs each word's span in the original text, which datatrove's
``simplify_text`` + word tokenizer (its decontamination filter's normalization)
does not keep; hence this small tokenizer.

An n-gram's hash combines its words' 64-bit xxh3 hashes polynomially (mod 2^64),
so a document's n-gram hashes are ``n`` vectorized numpy steps over its word
hashes instead of one string join and hash per n-gram.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import xxhash

_WORD = re.compile(r"[^\W_]+")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: a bijection mod 2^64 at each step


def words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The normalized words of ``text`` and the ``(start, end)`` character span of each."""
    found, spans = [], []
    for m in _WORD.finditer(text):
        found.append(unicodedata.normalize("NFKC", m.group()).casefold())
        spans.append(m.span())
    return found, spans


def word_hashes(found: list[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in found), np.uint64, len(found))


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of every run of ``n`` consecutive words (empty when there are fewer than ``n``)."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, np.uint64)
    out = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            out = out * _MULTIPLIER + hashes[k:k + count]
    return out


def text_ngram_hashes(text: str, n: int) -> np.ndarray:
    return ngram_hashes(word_hashes(words(text)[0]), n)


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching character spans merged, in order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def cut_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the (merged) spans; the pieces left, stripped, joined by a single space."""
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start].strip())
        last = end
    pieces.append(text[last:].strip())
    return " ".join(p for p in pieces if p)
