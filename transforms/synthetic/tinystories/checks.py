"""Checks on one generated story: each returns pass/fail; the first failure is the drop reason.

Required words may appear inflected ("run" → "ran", "running"; "cat" →
"cats"; "big" → "bigger"): a token counts when lemminflect lists it as an
inflection of the word, or lemmatizes it to the word, in the word's part of
speech. English is decided by the ``language_id`` stage's fastText logic
(``transforms.quality.language_id``), run by the caller, so this module stays pure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from transforms.synthetic.tinystories.prompts import Instruction

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_UPOS = {"verb": "VERB", "noun": "NOUN", "adjective": "ADJ"}
_REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry|i am sorry|sorry, (?:but )?i|i cannot|i can ?not|i can't|i won't|i'm unable|i am unable|"
    r"as an ai\b|i'm not able|i am not able)|\bas an ai (?:language )?model\b",
    re.IGNORECASE,
)
ECHO_NGRAM = 8

# Check names in the order they are applied; the first failing one is the drop reason.
CHECKS = ("not_empty", "not_refusal", "not_truncated", "no_prompt_echo", "length", "required_words", "english")


@dataclass(frozen=True)
class StoryLimits:
    min_words: int = 60
    max_words: int = 700


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=8192)
def word_forms(word: str, part: str) -> frozenset[str]:
    """The word and its inflections in that part of speech (lemminflect; regular rules for unknown words)."""
    import lemminflect  # here, not at the top: it imports spacy and torch, ~200 MB in every Beam process

    upos = _UPOS[part]
    forms = {word.lower()}
    inflections = lemminflect.getAllInflections(word, upos=upos) or lemminflect.getAllInflectionsOOV(word, upos=upos)
    for variants in inflections.values():
        forms.update(v.lower() for v in variants)
    return frozenset(forms)


def token_has_lemma(token: str, word: str, part: str) -> bool:
    import lemminflect

    lemmas = lemminflect.getAllLemmas(token, upos=_UPOS[part])
    return any(word.lower() == lem.lower() for group in lemmas.values() for lem in group)


def uses_word(tokens: set[str], word: str, part: str) -> bool:
    if tokens & word_forms(word, part):
        return True
    return any(token_has_lemma(t, word, part) for t in tokens if t[:2] == word[:2].lower())


def missing_words(text: str, ins: Instruction) -> list[str]:
    tokens = set(words(text))
    wanted = (("verb", ins.verb), ("noun", ins.noun), ("adjective", ins.adjective))
    return [f"{part}:{word}" for part, word in wanted if not uses_word(tokens, word, part)]


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text.strip()[:300]))


def echoes_prompt(text: str, prompt: str, n: int = ECHO_NGRAM) -> bool:
    """True when the output repeats any ``n`` consecutive words of the prompt."""
    prompt_words = words(prompt)
    grams = {tuple(prompt_words[i:i + n]) for i in range(len(prompt_words) - n + 1)}
    out = words(text)
    return any(tuple(out[i:i + n]) in grams for i in range(len(out) - n + 1))


def story_checks(text: str, finish_reason: str | None, ins: Instruction, prompt: str,
                 limits: StoryLimits, lang: tuple[str, float] | None, min_lang_score: float) -> dict[str, bool]:
    """Every check's result (all of them, so a run can report the share passing each)."""
    n_words = len(words(text))
    return {
        "not_empty": bool(text.strip()),
        "not_refusal": not is_refusal(text),
        "not_truncated": finish_reason != "length",
        "no_prompt_echo": not echoes_prompt(text, prompt),
        "length": limits.min_words <= n_words <= limits.max_words,
        "required_words": not missing_words(text, ins),
        "english": lang is not None and lang[0] == "en" and lang[1] > min_lang_score,
    }


def drop_reason(results: dict[str, bool], text: str, ins: Instruction, limits: StoryLimits,
                lang: tuple[str, float] | None) -> str | None:
    """The reason code for the first failed check, or None when all pass."""
    for name in CHECKS:
        if results[name]:
            continue
        if name == "not_empty":
            return "empty_output"
        if name == "not_refusal":
            return "refusal"
        if name == "not_truncated":
            return "truncated"
        if name == "no_prompt_echo":
            return "prompt_echo"
        if name == "length":
            return "too_short" if len(words(text)) < limits.min_words else "too_long"
        if name == "required_words":
            return "missing_word:" + ",".join(m.split(":")[0] for m in missing_words(text, ins))
        return f"lang:{lang[0]}" if lang and lang[0] != "en" else "lang_low_score"
    return None
