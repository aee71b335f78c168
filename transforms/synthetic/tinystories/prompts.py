"""The prompt builder: prompt i of a run, from (seed, i) alone, so any worker can build any prompt.

Words: prompt ``i`` takes the ``i``-th element of a seeded pseudo-random
permutation of all (verb, noun, adjective) triples. A permutation never
repeats, so no triple occurs twice in a run, and each prompt's triple is
uniform over the triples not used by earlier prompts (so each word is drawn
uniformly from its list). ``random.sample`` would need the whole run in one
process; a keyed Feistel permutation with cycle walking gives the same
property for any slice [start, stop) with no coordination between workers.

Features: each of the six is included with probability 1/2, so every subset
(the empty one too) is equally likely.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from transforms.synthetic.tinystories.vocabulary import Vocabulary

FEATURES = ("Dialogue", "Plot twist", "Bad ending", "Moral value", "Foreshadowing", "Conflict")

# Our own wording for each feature, one sentence each.
FEATURE_SENTENCES = {
    "Dialogue": "Let the characters talk to each other, with their words in quotation marks.",
    "Plot twist": "Partway through, something should happen that the reader does not expect.",
    "Bad ending": "The story should end in a sad or unhappy way.",
    "Moral value": "The story should teach a small lesson about how to behave.",
    "Foreshadowing": "Drop an early hint about something that happens later.",
    "Conflict": "The characters should face a problem or want different things.",
}

_ROUNDS = 4


@dataclass(frozen=True)
class Instruction:
    index: int
    verb: str
    noun: str
    adjective: str
    features: tuple[str, ...]

    @property
    def words(self) -> list[str]:
        return [self.verb, self.noun, self.adjective]


class TriplePermutation:
    """A keyed bijection on [0, n): balanced Feistel network on 2k bits, cycle-walked into range."""

    def __init__(self, n: int, seed: int):
        if n < 1:
            raise ValueError("the permutation needs a non-empty domain")
        self.n = n
        self.half_bits = max(1, ((n - 1).bit_length() + 1) // 2)
        self.mask = (1 << self.half_bits) - 1
        self.key = str(seed).encode()

    def _round(self, r: int, value: int) -> int:
        digest = hashlib.blake2b(value.to_bytes(8, "little"), key=self.key[:64], person=bytes([r]) * 16, digest_size=8)
        return int.from_bytes(digest.digest(), "little") & self.mask

    def _feistel(self, x: int) -> int:
        left, right = x >> self.half_bits, x & self.mask
        for r in range(_ROUNDS):
            left, right = right, left ^ self._round(r, right)
        return (left << self.half_bits) | right

    def __call__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(f"{i} outside [0, {self.n})")
        y = self._feistel(i)
        while y >= self.n:  # the 2k-bit domain is < 4n, so this ends after a few steps on average
            y = self._feistel(y)
        return y


def draw_features(seed: int, index: int) -> tuple[str, ...]:
    rng = random.Random(f"tinystories-features:{seed}:{index}")
    return tuple(f for f in FEATURES if rng.random() < 0.5)


def build_instructions(vocab: Vocabulary, seed: int, start: int, stop: int) -> list[Instruction]:
    """Instructions ``start .. stop-1`` of the run with this seed (any slice, same result)."""
    if stop > vocab.triples:
        raise ValueError(f"asked for {stop} prompts but the vocabulary has only {vocab.triples} distinct triples")
    perm = TriplePermutation(vocab.triples, seed)
    out = []
    for i in range(start, stop):
        t = perm(i)
        t, v = divmod(t, len(vocab.verbs))
        a, n = divmod(t, len(vocab.nouns))
        out.append(Instruction(i, vocab.verbs[v], vocab.nouns[n], vocab.adjectives[a], draw_features(seed, i)))
    return out


END_MARKER = "The end."


def story_request(ins: Instruction, end_marker: str | None = END_MARKER) -> str:
    """The user message asking for the story: the paper's structure (length, simple words, the three
    words, the features, a closing reminder), in our wording.

    Small models follow the end of a prompt best, so it closes by naming the
    three words again and asking for a short story that ends with
    ``end_marker``, which is also the backend's stop string: a finished story
    stops there instead of running to ``max_tokens``.
    """
    parts = [
        "Write a short story (3-5 paragraphs) which only uses very simple words that a 3 year old child would understand.",
        f'The story should use the verb "{ins.verb}", the noun "{ins.noun}" and the adjective "{ins.adjective}".',
    ]
    parts += [FEATURE_SENTENCES[f] for f in ins.features]
    reminder = f'Remember to use the words "{ins.verb}", "{ins.noun}" and "{ins.adjective}", and only simple words.'
    if end_marker:
        reminder += f' Keep it under 150 words and end with "{end_marker}"'
    parts.append(reminder)
    return " ".join(parts)


def story_messages(ins: Instruction, end_marker: str | None = END_MARKER) -> list[dict]:
    return [{"role": "user", "content": story_request(ins, end_marker)}]


def stop_strings(end_marker: str | None) -> tuple[str, ...] | None:
    """The marker as the model may write it ("The end", "The End", "THE END")."""
    if not end_marker:
        return None
    bare = end_marker.rstrip(".!")
    return tuple(dict.fromkeys([bare, bare.lower().capitalize(), bare.title(), bare.upper()]))


def summary_messages(story: str) -> list[dict]:
    return [{"role": "user", "content": f"Here is a short story:\n\n{story}\n\nSay in one sentence what happens in it."}]
