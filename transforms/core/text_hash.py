"""Content hashes shared by ids, exact dedup and release validation."""
from __future__ import annotations

import hashlib


def content_id(text: str) -> str:
    """Stable id for a document that came without one."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def normalized_text_hash(text: str) -> str:
    """Hash of the text with whitespace runs folded: what 'exact duplicate' means here."""
    folded = " ".join(text.split())
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()


def stable_hash64(key: str) -> int:
    """A 64-bit hash that is the same on every machine and Python run (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


def stable_bucket(key: str, buckets: int) -> int:
    """A bucket that is the same on every machine and Python run."""
    return stable_hash64(key) % buckets
