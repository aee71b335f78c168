"""Steering a small generator toward the required words with a logit bias (see ``word_bias``)."""
from __future__ import annotations

from typing import Callable

from transforms.synthetic.tinystories.checks import word_forms
from transforms.synthetic.tinystories.prompts import Instruction


def word_bias(ins: Instruction, tokenize: Callable[[str], list[int]], bias: float) -> tuple[tuple[int, float], ...] | None:
    """Logit bias toward the three required words: each form (inflections too) that is one token
    with its leading space, lower-case and capitalised, gets ``bias`` added to its logit.

    Small models read "use the word X" and then rarely write X; a bias on the
    word's own tokens makes them use it without changing anything else. Forms
    that split into several tokens are left alone: biasing their first piece
    would push that piece into unrelated words. The bias is static for the
    whole story, so ``repetition_penalty`` is what keeps the word from recurring.
    """
    if not bias:
        return None
    tokens: dict[int, float] = {}
    for part, word in (("verb", ins.verb), ("noun", ins.noun), ("adjective", ins.adjective)):
        for form in sorted(word_forms(word, part)):
            for spelled in (f" {form}", f" {form.capitalize()}"):
                ids = tokenize(spelled)
                if len(ids) == 1:
                    tokens[ids[0]] = bias
    return tuple(sorted(tokens.items())) or None

