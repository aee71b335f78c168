"""The word lists stories are built around (vocabulary.json beside this module; data/tinystories/README.md)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# Package data, so an installed copy (a wheel, a Dataflow worker's sdist) finds it too.
DEFAULT_RESOURCE = resources.files(__package__) / "vocabulary.json"


@dataclass(frozen=True)
class Vocabulary:
    verbs: tuple[str, ...]
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]

    @property
    def triples(self) -> int:
        return len(self.verbs) * len(self.nouns) * len(self.adjectives)


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Read the JSON lists; a missing or empty part of speech is an error, not a silent default."""
    source = path or DEFAULT_RESOURCE
    with (open(path, encoding="utf-8") if path else source.open(encoding="utf-8")) as fh:
        data = json.load(fh)
    parts = {}
    for key in ("verb", "noun", "adjective"):
        words = data.get(key)
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise ValueError(f"{source}: {key!r} must be a non-empty list of words")
        if len(set(words)) != len(words):
            raise ValueError(f"{source}: {key!r} has repeated words")
        parts[key] = tuple(words)
    return Vocabulary(parts["verb"], parts["noun"], parts["adjective"])
