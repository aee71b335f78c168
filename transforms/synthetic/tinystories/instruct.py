"""TinyStories-Instruct text: a random subset and order of Features:/Words:/Summary:, then Story:.

As in the paper's instruct set, the instruction parts come in random order and
any of them may be left out; the story always comes last. The choice is seeded
per story, so a rerun writes the same text.
"""
from __future__ import annotations

import random


def instruct_text(story: str, words: list[str], features: list[str], summary: str | None,
                  seed: int, index: int) -> str:
    parts = {"Words": ", ".join(words)}
    if features:
        parts["Features"] = ", ".join(features)
    if summary:
        parts["Summary"] = summary.strip()
    rng = random.Random(f"tinystories-instruct:{seed}:{index}")
    names = sorted(parts)
    rng.shuffle(names)
    chosen = [n for n in names if rng.random() < 0.5]
    lines = [f"{n}: {parts[n]}" for n in chosen]
    lines.append(f"Story: {story.strip()}")
    return "\n".join(lines)
