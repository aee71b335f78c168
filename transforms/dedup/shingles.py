"""Text normalization and shingle hashing for near-duplicate detection.

Normalization is datatrove's MinHash default (``datatrove.utils.text.simplify_text``
with ``TextNormConfig()``: lowercase, digit runs → "0", punctuation → space,
whitespace folded, diacritics stripped), re-implemented only where datatrove is
slow: its diacritics step is a per-character Python loop, so ``simplify`` skips it
for ASCII text (where it is a no-op) and uses a ``str.translate`` table otherwise.
The tests check token equality with ``simplify_text`` on real and fuzzed text.

Words are the whitespace-separated tokens of the simplified text. datatrove
tokenizes with spaCy per language instead (which splits e.g. "cannot" into
"can not"); whitespace tokens are language-agnostic and ~50x cheaper.

A shingle is the UTF-8 bytes of ``" ".join(ngram)`` (word n-grams) or of n
consecutive characters (char n-grams); its 64-bit hash is ``xxh64`` with seed 0,
i.e. exactly ``xxhash.xxh64_intdigest(shingle)`` (tested against the xxhash
package). The hash runs in a numba kernel over byte spans of the simplified
text because one Python call per shingle (datasketch, datatrove) is the
throughput bottleneck, not the permutations.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

import numba
import numpy as np
import regex
from datatrove.utils.text import NUMBERS_PATTERN, PUNCTUATION_TRANS, TextNormConfig, simplify_text

DEFAULT_NORM = TextNormConfig()
_ND_PATTERN = regex.compile(r"\p{Nd}")  # datatrove's NUMBERS_PATTERN digit class
_DECIMAL_SEPARATORS = ".,،٫⎖⎗⎘"  # as in datatrove's NUMBERS_PATTERN


@cache
def _mn_delete() -> dict:
    """Characters datatrove drops after NFD (unicodedata category "Mn"), as a translate table."""
    return {cp: None for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Mn"}


def simplify(text: str, config: TextNormConfig = DEFAULT_NORM) -> str:
    """datatrove's ``simplify_text``, faster; whitespace is folded once more at the end.

    The final fold only matters where a stripped diacritic stood alone between
    spaces; it changes no token.
    """
    if config.norm_weekdays or config.norm_monthnames:
        return " ".join(simplify_text(text, config).split())
    if config.lowercase:
        text = text.lower()
    if config.norm_numbers:
        text = NUMBERS_PATTERN.sub("0", text)
    if config.remove_punctuation:
        text = text.translate(PUNCTUATION_TRANS)
    if config.norm_unicode_diacritics and not text.isascii():
        text = unicodedata.normalize("NFD", text).translate(_mn_delete())
    if config.norm_whitespace or config.norm_unicode_diacritics:
        text = " ".join(text.split())
    return text


def word_shingles(simplified: str, n: int) -> list[str]:
    """Word n-grams as strings (reference path; the kernel hashes the same bytes).

    A text with fewer than ``n`` but at least one word is one shingle, so short
    duplicates still collide (datatrove skips such documents).
    """
    words = simplified.split()
    if not words:
        return []
    if len(words) < n:
        return [" ".join(words)]
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def char_shingles(simplified: str, n: int) -> list[str]:
    if not simplified:
        return []
    if len(simplified) < n:
        return [simplified]
    return [simplified[i : i + n] for i in range(len(simplified) - n + 1)]


@dataclass(frozen=True)
class ShingleSpec:
    """What a shingle is: ``unit`` "word" or "char", ``n`` units, and the normalization."""

    n: int = 5
    unit: str = "word"
    norm: TextNormConfig = field(default_factory=TextNormConfig)

    def __post_init__(self):
        if self.unit not in ("word", "char"):
            raise ValueError(f"shingle unit must be 'word' or 'char', got {self.unit!r}")
        if self.n < 1:
            raise ValueError(f"shingle size must be >= 1, got {self.n}")

    def strings(self, text: str) -> list[str]:
        simplified = simplify(text, self.norm)
        return word_shingles(simplified, self.n) if self.unit == "word" else char_shingles(simplified, self.n)


# --- xxh64 over byte spans (numba) -------------------------------------------------

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)


@numba.njit(inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@numba.njit(inline="always")
def _read64(buf, p):
    v = np.uint64(0)
    for i in range(8):
        v |= np.uint64(buf[p + i]) << np.uint64(8 * i)
    return v


@numba.njit(inline="always")
def _round(acc, lane):
    acc = acc + lane * _P2
    acc = _rotl(acc, 31)
    return acc * _P1


@numba.njit(inline="always")
def _merge(acc, v):
    acc ^= _round(np.uint64(0), v)
    return acc * _P1 + _P4


@numba.njit(cache=True)
def xxh64_span(buf, start, end):
    """xxh64 (seed 0) of ``buf[start:end]``; equals ``xxhash.xxh64_intdigest``."""
    p = start
    length = end - start
    if length >= 32:
        v1 = _P1 + _P2
        v2 = _P2
        v3 = np.uint64(0)
        v4 = np.uint64(0) - _P1
        limit = end - 32
        while p <= limit:
            v1 = _round(v1, _read64(buf, p))
            v2 = _round(v2, _read64(buf, p + 8))
            v3 = _round(v3, _read64(buf, p + 16))
            v4 = _round(v4, _read64(buf, p + 24))
            p += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = _P5
    h += np.uint64(length)
    while p + 8 <= end:
        h ^= _round(np.uint64(0), _read64(buf, p))
        h = _rotl(h, 27) * _P1 + _P4
        p += 8
    if p + 4 <= end:
        w = np.uint64(0)
        for i in range(4):
            w |= np.uint64(buf[p + i]) << np.uint64(8 * i)
        h ^= w * _P1
        h = _rotl(h, 23) * _P2 + _P3
        p += 4
    while p < end:
        h ^= np.uint64(buf[p]) * _P5
        h = _rotl(h, 11) * _P1
        p += 1
    h ^= h >> np.uint64(33)
    h *= _P2
    h ^= h >> np.uint64(29)
    h *= _P3
    h ^= h >> np.uint64(32)
    return h


@numba.njit(cache=True)
def _unit_bounds(buf, start, end, word_units, starts, ends):
    """Fill unit (word or UTF-8 character) byte bounds of ``buf[start:end]``; return the count."""
    k = 0
    if word_units:
        p = start
        while p < end:
            while p < end and buf[p] == 32:
                p += 1
            if p >= end:
                break
            starts[k] = p
            while p < end and buf[p] != 32:
                p += 1
            ends[k] = p
            k += 1
    else:
        for p in range(start, end):
            if (buf[p] & 0xC0) != 0x80:
                if k > 0:
                    ends[k - 1] = p
                starts[k] = p
                k += 1
        if k > 0:
            ends[k - 1] = end
    return k


@numba.njit(cache=True)
def shingle_hashes_batch(buf, doc_offsets, n, word_units, out_offsets):
    """Hashes of all shingles of each document in a concatenated UTF-8 buffer.

    ``doc_offsets[d]:doc_offsets[d+1]`` is document d's simplified text. Returns
    the hashes (document d's at ``out_offsets[d]:out_offsets[d+1]``, filled here).
    """
    ndocs = doc_offsets.shape[0] - 1
    longest = 0
    for d in range(ndocs):
        longest = max(longest, doc_offsets[d + 1] - doc_offsets[d])
    starts = np.empty(longest + 1, np.int64)
    ends = np.empty(longest + 1, np.int64)
    size = doc_offsets[ndocs] - doc_offsets[0]
    out = np.empty((size // 2 + ndocs + 1) if word_units else (size + ndocs), np.uint64)
    k_out = 0
    out_offsets[0] = 0
    for d in range(ndocs):
        k = _unit_bounds(buf, doc_offsets[d], doc_offsets[d + 1], word_units, starts, ends)
        if k > 0:
            if k < n:
                out[k_out] = xxh64_span(buf, starts[0], ends[k - 1])
                k_out += 1
            else:
                for i in range(k - n + 1):
                    out[k_out] = xxh64_span(buf, starts[i], ends[i + n - 1])
                    k_out += 1
        out_offsets[d + 1] = k_out
    return out[:k_out]


@cache
def _tables() -> tuple[np.ndarray, re.Pattern]:
    """Per-codepoint class (0 keep, 1 punctuation, 2 whitespace, 3 decimal digit, 4 "Mn"
    mark) and the codepoints whose NFD interacts with those
    classes (their texts take the exact datatrove-order path)."""
    cls = np.zeros(0x110000, np.uint8)
    all_chars = "".join(map(chr, range(0x110000)))
    for cp in range(0x110000):
        if all_chars[cp].isspace():
            cls[cp] = 2
    for cp in range(0x80, 0x110000):
        if unicodedata.category(all_chars[cp]) == "Mn":
            cls[cp] = 4
    # exactly what simplify_text replaces: PUNCTUATION_TRANS (PUNCTUATION_SET also holds
    # terminal punctuation such as U+115C9, which simplify_text keeps)
    for cp in PUNCTUATION_TRANS:
        cls[cp] = 1
    for m in _ND_PATTERN.finditer(all_chars):
        cls[ord(m.group())] = 3
    risky = []
    for cp in range(0x80, 0x110000):
        ch = all_chars[cp]
        decomposed = unicodedata.normalize("NFD", ch)
        if decomposed != ch and (
            cls[cp] != 0 or any(cls[ord(c)] in (1, 2, 3) or c in _DECIMAL_SEPARATORS for c in decomposed)
        ):
            risky.append(re.escape(ch))
    return cls, re.compile("[" + "".join(risky) + "]")


@numba.njit(inline="always")
def _is_separator(c):
    # ".,،٫⎖⎗⎘": the decimal separators of datatrove's NUMBERS_PATTERN
    return c == 46 or c == 44 or c == 0x60C or c == 0x66B or c == 0x2396 or c == 0x2397 or c == 0x2398


@numba.njit(inline="always")
def _decode(buf, i):
    """(codepoint, width) of the UTF-8 sequence at ``buf[i]`` (input is valid UTF-8)."""
    b0 = np.uint32(buf[i])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (np.uint32(buf[i + 1]) & 0x3F), 2
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((np.uint32(buf[i + 1]) & 0x3F) << 6) | (np.uint32(buf[i + 2]) & 0x3F), 3
    return (
        ((b0 & 0x07) << 18)
        | ((np.uint32(buf[i + 1]) & 0x3F) << 12)
        | ((np.uint32(buf[i + 2]) & 0x3F) << 6)
        | (np.uint32(buf[i + 3]) & 0x3F)
    ), 4


@numba.njit(cache=True)
def _simplify_kernel(buf, offsets, cls, norm_numbers, remove_punct, strip_marks, out, out_offsets):
    """Digit runs → "0", punctuation → space, marks dropped, whitespace folded, UTF-8 in and out.

    Unchanged characters are copied as bytes.
    """
    k = 0
    for d in range(offsets.shape[0] - 1):
        start = k
        pending_space = False
        i = offsets[d]
        end = offsets[d + 1]
        while i < end:
            c, w = _decode(buf, i)
            t = cls[c]
            if t == 1 and not remove_punct:
                t = 0
            if t == 4 and not strip_marks:
                t = 0
            if t == 3 and norm_numbers:
                i += w
                while i < end:
                    c2, w2 = _decode(buf, i)
                    if cls[c2] != 3:
                        break
                    i += w2
                if i < end:
                    c2, w2 = _decode(buf, i)
                    if _is_separator(c2) and i + w2 < end:
                        c3, w3 = _decode(buf, i + w2)
                        if cls[c3] == 3:
                            i += w2
                            while i < end:
                                c2, w2 = _decode(buf, i)
                                if cls[c2] != 3:
                                    break
                                i += w2
                if pending_space and k > start:
                    out[k] = 32
                    k += 1
                pending_space = False
                out[k] = 48
                k += 1
                continue
            if t == 1 or t == 2:
                pending_space = True
            elif t != 4:
                if pending_space and k > start:
                    out[k] = 32
                    k += 1
                pending_space = False
                for j in range(w):
                    out[k + j] = buf[i + j]
                k += w
            i += w
        out_offsets[d + 1] = k
    return k


def simplified_buffer(texts: list[str], spec: ShingleSpec) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 of ``simplify(text)`` for every text, concatenated, and the offsets.

    Lowercasing and NFD run in CPython; the per-character rules run in a numba
    kernel. Applying NFD first equals datatrove's NFD-last order except for
    texts holding a "risky" codepoint (one whose decomposition is punctuation,
    a digit or a space); those take ``simplify``.
    """
    norm = spec.norm
    if norm.norm_weekdays or norm.norm_monthnames or not norm.norm_whitespace:
        return _python_buffer(texts, norm)
    cls, risky = _tables()
    parts, exact = [], {}
    for i, text in enumerate(texts):
        if norm.lowercase:
            text = text.lower()
        if norm.norm_unicode_diacritics and not text.isascii() and not unicodedata.is_normalized("NFD", text):
            if risky.search(text):
                exact[i] = simplify(texts[i], norm).encode("utf-8")
                parts.append(b"")
                continue
            text = unicodedata.normalize("NFD", text)
        parts.append(text.encode("utf-8", "surrogatepass"))
    buf, offsets = _join(parts)
    out = np.empty(len(buf) + 1, np.uint8)
    out_offsets = np.zeros(len(parts) + 1, np.int64)
    size = _simplify_kernel(
        buf, offsets, cls, norm.norm_numbers, norm.remove_punctuation, norm.norm_unicode_diacritics,
        out, out_offsets,
    )
    if not exact:
        return out[:size], out_offsets
    chunks = [
        exact[i] if i in exact else out[out_offsets[i] : out_offsets[i + 1]].tobytes() for i in range(len(texts))
    ]
    return _join(chunks)


def _python_buffer(texts: list[str], norm: TextNormConfig) -> tuple[np.ndarray, np.ndarray]:
    return _join([simplify(t, norm).encode("utf-8") for t in texts])


def _join(chunks: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(chunks) + 1, np.int64)
    np.cumsum([len(c) for c in chunks], out=offsets[1:])
    buf = np.frombuffer(b"".join(chunks), np.uint8) if offsets[-1] else np.zeros(1, np.uint8)
    return buf, offsets


def simplify_fast(texts: list[str], spec: ShingleSpec | None = None) -> list[str]:
    """The kernel path's simplified texts as strings (for tests and inspection)."""
    buf, offsets = simplified_buffer(texts, spec or ShingleSpec())
    return [buf[offsets[i] : offsets[i + 1]].tobytes().decode("utf-8") for i in range(len(texts))]


def hash_shingles_batch(texts: list[str], spec: ShingleSpec) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, offsets): document i's shingle hashes are ``hashes[offsets[i]:offsets[i+1]]``."""
    buf, offsets = simplified_buffer(texts, spec)
    out_offsets = np.zeros(len(texts) + 1, np.int64)
    hashes = shingle_hashes_batch(buf, offsets, spec.n, spec.unit == "word", out_offsets)
    return hashes, out_offsets


def shingle_set(text: str, spec: ShingleSpec) -> np.ndarray:
    """Sorted distinct shingle hashes of one document (for exact Jaccard)."""
    hashes, _ = hash_shingles_batch([text], spec)
    return np.unique(hashes)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted distinct hash arrays."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)
