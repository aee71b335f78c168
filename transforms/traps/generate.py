"""Trap and control sequences for ``copyright_traps`` (Meeus et al., 2024), made before the pipeline runs.

A trap is fictitious text sampled from an LLM, cut to an exact number of
reference-tokenizer tokens, with its perplexity under the reference model
measured by ``score()``. Controls are drawn from the same pool the same way and
never inserted, so that detection later compares like with like. When
perplexity bins are given, each (length, bin) pool is resampled, its temperature
steered toward its bin, until it is full or the attempts run out; a short group
is reported, never padded.
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from transforms.llm.api import GenerationBackend, Sampling

# Topics for the prompts: plain nouns, so the model writes varied fiction about invented things.
TOPICS = ("a lighthouse keeper", "a lost glove", "a quiet harbour town", "a clockmaker's apprentice", "a salt marsh",
          "an abandoned observatory", "a travelling circus", "a mountain pass in winter", "a library at night",
          "a ferry crossing", "an orchard", "a broken compass", "a village bakery", "a river island",
          "a stranded balloonist", "a cartographer", "a glass factory", "a desert well", "a tin soldier",
          "a monastery garden", "a night train", "a beekeeper", "a forgotten key", "a storm over the plains")
PROMPT = ("Write a few sentences of an original story about {topic}. Invent the names of people and places. "
          "Write only the story.")


@dataclass(frozen=True)
class Trap:
    """One sequence of the key: inserted ``repetitions`` times, or a control (``repetitions`` 0)."""

    trap_id: str
    text: str
    tokens: int
    perplexity: float
    length: int  # the group's token length (= tokens)
    group_repetitions: int  # the group's repetition count, also for its controls
    perplexity_bin: tuple[float, float] | None
    temperature: float

    @property
    def repetitions(self) -> int:
        return 0 if self.is_control else self.group_repetitions

    @property
    def is_control(self) -> bool:
        return self.trap_id.startswith("control-")

    @property
    def group(self) -> str:
        return group_name(self.length, self.group_repetitions, self.perplexity_bin)

    def as_dict(self) -> dict:
        row = asdict(self)
        row["repetitions"] = self.repetitions
        row["group"] = self.group
        return row


def group_name(length: int, repetitions: int, ppl_bin: tuple[float, float] | None) -> str:
    name = f"len{length}-rep{repetitions}"
    return name if ppl_bin is None else f"{name}-ppl{ppl_bin[0]:g}-{ppl_bin[1]:g}"


@dataclass
class TrapPlan:
    lengths: Sequence[int]
    repetitions: Sequence[int]
    per_group: int
    controls_per_group: int
    perplexity_bins: Sequence[tuple[float, float]] | None
    temperature: float
    max_attempts: int
    seed: int


def perplexity_of(logprobs: Sequence[float | None]) -> float:
    values = [lp for lp in logprobs if lp is not None]
    return math.exp(-sum(values) / len(values)) if values else float("inf")


def cut_to_tokens(text: str, length: int, reference: GenerationBackend) -> str | None:
    """The first ``length`` reference tokens of ``text`` as text, or None when it is shorter or the cut
    does not tokenize back to exactly ``length`` tokens (a split inside a multi-byte character)."""
    ids = reference.tokenize(text.strip())
    if len(ids) < length:
        return None
    cut = reference.detokenize(ids[:length]).strip()
    return cut if len(reference.tokenize(cut)) == length and "\ufffd" not in cut else None


def generate_traps(plan: TrapPlan, generator: GenerationBackend, reference: GenerationBackend,
                   log: Callable[[str], None] = print) -> tuple[list[Trap], list[str]]:
    """Traps and controls for every (length, repetitions, bin) group, and one warning per short group.
    Every sequence is unique.

    Each (length, bin) pool samples at its own temperature, starting at ``plan.temperature``: a round
    that fills nothing of a pool moves its temperature toward its bin (down when the candidates were
    more perplexing than the bin, up when less), since perplexity rises with temperature.
    """
    bins = list(plan.perplexity_bins) if plan.perplexity_bins else [None]
    per_pool = len(plan.repetitions) * (plan.per_group + plan.controls_per_group)
    pools: dict[tuple[int, tuple | None], list[tuple[str, float, float]]] = {(n, b): [] for n in plan.lengths for b in bins}
    temperature = {key: plan.temperature for key in pools}
    seen: set[str] = set()
    rng = random.Random(plan.seed)
    for attempt in range(plan.max_attempts):
        pending = [key for key, pool in pools.items() if len(pool) < per_pool]
        if not pending:
            break
        prompts, samplings, owners = [], [], []
        for key in pending:
            for _ in range(max(4, 2 * (per_pool - len(pools[key])))):
                prompts.append([{"role": "user", "content": PROMPT.format(topic=rng.choice(TOPICS))}])
                samplings.append(Sampling(max_tokens=key[0] + 8, temperature=temperature[key], top_p=1.0,
                                          seed=rng.randrange(1 << 30)))
                owners.append(key)
        cuts = []
        for gen, key, sampling in zip(generator.generate(prompts, samplings), owners, samplings):
            text = cut_to_tokens(gen.text, key[0], reference) if not gen.error else None
            if text and text not in seen:
                seen.add(text)
                cuts.append((text, key, sampling.temperature))
        scored = reference.score([text for text, _, _ in cuts]) if cuts else []
        own_ppl: dict[tuple, list[float]] = {key: [] for key in pending}
        filled_now = {key: 0 for key in pending}
        for (text, key, temp), s in zip(cuts, scored):
            if s.error:
                continue
            ppl = perplexity_of(s.logprobs)
            own_ppl[key].append(ppl)
            for b in bins:  # any pending pool of this length whose bin holds it
                target = (key[0], b)
                if len(pools[target]) < per_pool and (b is None or b[0] <= ppl < b[1]):
                    pools[target].append((text, ppl, temp))
                    filled_now[target] = filled_now.get(target, 0) + 1
                    break
        for key in pending:
            b, values = key[1], sorted(own_ppl[key])
            if b is not None and not filled_now.get(key) and values:
                median = values[len(values) // 2]
                factor = 0.75 if median >= b[1] else 1.3 if median < b[0] else 1.0
                temperature[key] = min(2.0, max(0.05, temperature[key] * factor))
        filled = sum(len(p) for p in pools.values())
        log(f"[corpusmill] copyright_traps: round {attempt + 1}: {filled} of {per_pool * len(pools)} sequences")
    traps, warnings = [], []
    for (length, b), pool in sorted(pools.items(), key=lambda kv: (kv[0][0], kv[0][1] or (0, 0))):
        order = sorted(pool, key=lambda item: hashlib.sha256(f"{plan.seed}:{item[0]}".encode()).hexdigest())
        for reps in plan.repetitions:
            name = group_name(length, reps, b)
            taken, order = order[:plan.per_group + plan.controls_per_group], order[plan.per_group + plan.controls_per_group:]
            n_traps = min(plan.per_group, len(taken))
            for i, (text, ppl, temp) in enumerate(taken):
                kind = "trap" if i < n_traps else "control"
                index = i if i < n_traps else i - n_traps
                traps.append(Trap(f"{kind}-{name}-{index}", text, length, round(ppl, 4), length, reps, b, temp))
            n_controls = len(taken) - n_traps
            if n_traps < plan.per_group or n_controls < plan.controls_per_group:
                warnings.append(f"group {name} is short: {n_traps} of {plan.per_group} traps and {n_controls} of "
                                f"{plan.controls_per_group} controls after {plan.max_attempts} attempts")
    return traps, warnings
