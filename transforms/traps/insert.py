"""Where traps go: host documents by seeded hash, and the trap at a sentence boundary (pysbd).

The host choice is a pure function of (seed, trap id, document id), so it does
not depend on the number of workers or on the order documents arrive in: a
trap repeated r times goes into the r eligible documents of smallest rank.
"""
from __future__ import annotations

import hashlib
from typing import Sequence


def host_rank(seed: int, trap_id: str, doc_id: str) -> int:
    """A 64-bit rank; a trap's hosts are the eligible documents of smallest rank."""
    digest = hashlib.blake2b(f"{seed}\x1f{trap_id}\x1f{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def sentence_starts(text: str, segmenter) -> list[int]:
    """Offsets where a sentence starts (0 included) and the end of the text: the places a trap can go."""
    starts = {0, len(text)}
    for span in segmenter.segment(text):
        starts.add(span.start)
    return sorted(starts)


def insert_traps(text: str, traps: Sequence[tuple[str, str]], doc_id: str, seed: int, where: str,
                 segmenter=None) -> str:
    """``text`` with each ``(trap_id, trap_text)`` inserted once: appended, or at a sentence boundary chosen
    by hash (distinct boundaries while there are enough), each trap followed by the whitespace that
    separated the sentences there."""
    ordered = sorted(traps)
    if where == "append":
        return "".join([text.rstrip()] + [f"\n\n{t}" for _, t in ordered]) if text.strip() else "\n\n".join(t for _, t in ordered)
    boundaries = sentence_starts(text, segmenter)
    chosen: dict[int, list[str]] = {}
    free = list(boundaries)
    for trap_id, trap_text in ordered:
        pool = free or boundaries
        at = pool[host_rank(seed, trap_id, doc_id) % len(pool)]
        if at in free:
            free.remove(at)
        chosen.setdefault(at, []).append(trap_text)
    out, last = [], 0
    for at in sorted(chosen):
        out.append(text[last:at])
        for trap_text in chosen[at]:
            out.append(_placed(text, at, trap_text))
        last = at
    out.append(text[last:])
    return "".join(out)


def _placed(text: str, at: int, trap_text: str) -> str:
    """The trap as a sentence of its own at offset ``at``: a space before it at the very end, after it elsewhere."""
    if at == len(text):
        return trap_text if not text or text[-1].isspace() else " " + trap_text
    return trap_text + " "
