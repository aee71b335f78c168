"""The ``heuristic_filters`` stage: datatrove's own Gopher, C4 and FineWeb filters in one DocProcessor.

The filter classes are datatrove's, constructed with the parameters from the
config and called through their ``filter(Document)`` method, in FineWeb's
order (Gopher repetition, Gopher quality, C4 quality, FineWeb quality). The
first filter that rejects a document decides: the drop reason is
``<filter>:<datatrove reason>``, e.g. ``gopher_quality:gopher_short_doc``.
C4's line removal changes the text; that is written back and recorded in
provenance. Two things are swapped for exact, faster equivalents (every
decision equals datatrove's: tests/quality/test_quality_heuristics.py):

- the word tokenizer, through datatrove's own hook (``language=`` accepts a
  ``WordTokenizer``): ``transforms.quality.cached_word_tokenizer`` gives spaCy's tokens from a
  per-chunk cache;
- the n-gram helpers that GopherRepetitionFilter's own ``filter`` code calls:
  ``transforms.quality.repetition_ngrams``.

Signals (the ``signals`` column): Gopher's word count and mean word length,
the duplicate fractions GopherRepetition compared with its thresholds
(``dup_line_frac``, ``top_2_gram_char_frac``, ``dup_5_gram_char_frac``, …), and
the lines C4 removed.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome, add_provenance
from transforms.quality.cached_word_tokenizer import SharedSpacyTokenizer
from transforms.quality.repetition_ngrams import gopher_repetition_filter

# config key -> datatrove class name (module path resolved lazily: datatrove import is heavy)
FILTERS = {
    "gopher_repetition": ("datatrove.pipeline.filters.gopher_repetition_filter", "GopherRepetitionFilter"),
    "gopher_quality": ("datatrove.pipeline.filters.gopher_quality_filter", "GopherQualityFilter"),
    "c4_quality": ("datatrove.pipeline.filters.c4_filters", "C4QualityFilter"),
    "fineweb_quality": ("datatrove.pipeline.filters.fineweb_quality_filter", "FineWebQualityFilter"),
}
_NOT_PARAMS = {"self", "exclusion_writer", "language"}


def filter_class(key: str):
    import importlib

    module, name = FILTERS[key]
    return getattr(importlib.import_module(module), name)


class FilterSettings(BaseModel):
    """One datatrove filter: on/off and its constructor arguments (datatrove's defaults otherwise)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)


class HeuristicFiltersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str = Field("en", description="datatrove word-tokenizer language")
    gopher_repetition: FilterSettings = Field(default_factory=FilterSettings)
    gopher_quality: FilterSettings = Field(default_factory=FilterSettings)
    c4_quality: FilterSettings = Field(default_factory=FilterSettings)
    fineweb_quality: FilterSettings = Field(default_factory=FilterSettings)
    batch_size: int = Field(64, gt=0)

    @model_validator(mode="after")
    def _params_match_datatrove(self):
        for key in FILTERS:
            settings: FilterSettings = getattr(self, key)
            accepted = set(inspect.signature(filter_class(key).__init__).parameters) - _NOT_PARAMS
            unknown = sorted(set(settings.params) - accepted)
            if unknown:
                raise ValueError(
                    f"{key}.params: unknown parameter(s) {unknown} for datatrove "
                    f"{FILTERS[key][1]}; expected some of {sorted(accepted)}"
                )
        return self

    def enabled_filters(self) -> dict[str, dict[str, Any]]:
        return {k: dict(getattr(self, k).params) for k in FILTERS if getattr(self, k).enabled}


def _as_datatrove_args(params: dict[str, Any]) -> dict[str, Any]:
    """YAML gives lists where datatrove expects tuples (n-gram tables, stop chars)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        out[key] = value
    return out


def build_filters(filters: dict[str, dict[str, Any]], language: Any,
                  faster_ngrams: bool = False) -> list[tuple[str, Any]]:
    """datatrove filter instances in FineWeb order; ``language`` is a code or a WordTokenizer.

    ``faster_ngrams``: Gopher repetition runs its own code with exact, faster
    n-gram helpers (``transforms.quality.repetition_ngrams``); the datatrove reference
    runs without.
    """
    built = []
    for key in FILTERS:
        if key not in filters:
            continue
        args = dict(_as_datatrove_args(filters[key]), language=language)
        if key == "gopher_repetition" and faster_ngrams:
            built.append((key, gopher_repetition_filter(**args)))
        else:
            built.append((key, filter_class(key)(**args)))
    return built


class HeuristicFilters(DocProcessor):
    def __init__(self, label: str, filters: dict[str, dict[str, Any]], language: str = "en", batch_size: int = 64):
        self.label = label
        self.filters_config = filters
        self.language = language
        self.batch_size = batch_size
        self._filters: list[tuple[str, Any]] | None = None

    def setup(self) -> None:
        from datatrove.utils.word_tokenizers import load_word_tokenizer

        default = load_word_tokenizer(self.language)
        is_spacy = type(default).__name__ == "SpaCyTokenizer"
        self.tokenizer = SharedSpacyTokenizer(self.language) if is_spacy else default
        self._filters = build_filters(self.filters_config, self.tokenizer, faster_ngrams=True)

    def process(self, doc: dict) -> Outcome:
        from datatrove.data import Document

        if self._filters is None:
            self.setup()
        dt_doc = Document(text=doc["text"], id=str(doc["id"]))
        signals = dict(doc.get("signals") or {})
        for key, dt_filter in self._filters:
            before = dt_doc.text
            result = dt_filter.filter(dt_doc)
            keep, reason = (result, None) if not isinstance(result, tuple) else result
            if key == "gopher_quality":
                signals.update(_word_signals(self.tokenizer, before))
            measures = getattr(dt_filter, "measures", None)  # GopherRepetition's fractions (repetition_ngrams)
            if measures is not None:
                signals.update(measures.values)
            if not keep:
                doc["signals"] = signals
                return Dropped(doc, f"{key}:{reason or 'filtered'}")
            if dt_doc.text != before:
                lines_before, lines_after = len(before.splitlines()), len(dt_doc.text.splitlines())
                signals[f"{key}_lines_removed"] = float(lines_before - lines_after)
                add_provenance(
                    doc, self.label, "line_removal", filter=key,
                    lines_before=lines_before, lines_after=lines_after,
                    chars_before=len(before), chars_after=len(dt_doc.text),
                )
        doc["text"] = dt_doc.text
        doc["signals"] = signals
        return Kept(doc)


def _word_signals(tokenizer, text: str) -> dict[str, float]:
    """Word count and mean word length as Gopher sees them (reuses the shared tokenization)."""
    from datatrove.utils.text import PUNCTUATION_SET, split_into_words

    words = split_into_words(text, tokenizer)
    kept = [w for w in words if not PUNCTUATION_SET.issuperset(w)]  # Gopher's "any char not punctuation"
    return {
        "words": float(len(words)),
        "mean_word_length": float(np.mean([len(w) for w in kept])) if kept else 0.0,
    }
