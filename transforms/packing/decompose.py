"""Dataset Decomposition (Pouransari et al., 2024): one document's tokens → power-of-two sequences.

Chunks of the largest bucket length ``2**max_log2`` are taken while the
document is longer than that; the remainder is split by its binary
representation, largest piece first, so every sequence comes from one document
and has a bucket length. Pieces below ``2**min_log2`` are dropped (the paper's
buckets run from 2^8 to 2^13 and drop what is left below the smallest).

This is the authors' ``get_binary`` with ``randomize=False`` and pure
power-of-two lengths (their script cuts ``2**k + 1`` tokens so the one-token
shift of next-token prediction stays inside a sequence; here a trainer shifts
within the sequence, as every concat-and-chunk loader does). Pure functions, no
Beam, no tokenizer.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """Tokens ``[start, start + 2**log2)`` of a document, its ``chunk_index``-th sequence."""

    chunk_index: int
    start: int
    log2: int

    @property
    def length(self) -> int:
        return 1 << self.log2


def decompose(length: int, min_log2: int, max_log2: int) -> tuple[list[Piece], int]:
    """The pieces of a ``length``-token document, in document order, and the tokens dropped.

    The dropped tokens are the document's last ``length mod 2**min_log2``
    tokens: everything before them is covered exactly once.
    """
    if not 0 <= min_log2 <= max_log2:
        raise ValueError(f"need 0 <= min_log2 <= max_log2, got {min_log2}, {max_log2}")
    pieces: list[Piece] = []
    start = 0
    largest = 1 << max_log2
    while length - start > largest:
        pieces.append(Piece(len(pieces), start, max_log2))
        start += largest
    rest = length - start
    for log2 in range(max_log2, min_log2 - 1, -1):
        if rest & (1 << log2):
            pieces.append(Piece(len(pieces), start, log2))
            start += 1 << log2
    return pieces, length - start


def concat_chunks(lengths: list[int], seq_len: int) -> tuple[list[list[tuple[int, int, int]]], int]:
    """Concat-and-chunk: documents laid end to end, cut every ``seq_len`` tokens.

    Returns, per full sequence, its parts ``(document index, start in the
    document, tokens)`` in order, and the tokens of the last, partial sequence,
    which are dropped (as Hugging Face's ``group_texts`` drops them).
    """
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    sequences: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    room = seq_len
    for doc, length in enumerate(lengths):
        start = 0
        while start < length:
            take = min(room, length - start)
            current.append((doc, start, take))
            start += take
            room -= take
            if room == 0:
                sequences.append(current)
                current, room = [], seq_len
    return sequences, seq_len - room if current else 0
