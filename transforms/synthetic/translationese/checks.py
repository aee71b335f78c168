"""Bad machine translation is dropped with a reason, never kept silently.

Reasons, in the order checked: ``mt_empty`` (nothing came back),
``mt_untranslated`` (the output is the input), ``mt_length_ratio`` (output
length far from the input's: truncated or runaway output), ``mt_wrong_lang:XX``
/ ``mt_lang_low_score`` (fastText ``language_id`` logic on the output).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MTLimits:
    min_length_ratio: float = 0.5
    max_length_ratio: float = 2.0
    min_lang_score: float = 0.5


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def translation_problem(source: str, output: str, lang: tuple[str, float], tgt: str, limits: MTLimits) -> str | None:
    if not output.strip():
        return "mt_empty"
    if _fold(output) == _fold(source):
        return "mt_untranslated"
    ratio = len(output) / max(len(source), 1)
    if not limits.min_length_ratio <= ratio <= limits.max_length_ratio:
        return "mt_length_ratio"
    if lang[0] != tgt:
        return f"mt_wrong_lang:{lang[0]}"
    if not lang[1] > limits.min_lang_score:
        return "mt_lang_low_score"
    return None
