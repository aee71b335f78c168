"""The ``decontaminate`` stage: documents that contain evaluation-set text, found by word n-gram overlap.

GPT-3's method (13-gram overlap), as Dolma/OLMo and DCLM apply it: the eval
sets' n-grams are hashed once on the launching machine (``eval_sets``,
``eval_index``), written under the run's work directory and handed to every
worker as a side input; the documents stream past it, none is shuffled. A
document with at least ``min_matches`` matching n-grams (or one whole short
item) from an eval set is contaminated by it: ``drop`` drops it with reason
``contaminated:<eval set>`` (the set with most matches), ``redact`` cuts the
matching spans and keeps the rest when ``min_words_after_redact`` words remain.
Provenance names the matched items (ids), the matching n-gram count and the cut
spans; the stats give, per eval set, its items, the contaminated documents and
the items found in the corpus.

Only verbatim overlap is found (after case, whitespace and punctuation folding):
a paraphrase that shares no n-gram is not.
"""
from __future__ import annotations

import io
from typing import Literal

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from pydantic import BaseModel, ConfigDict, Field, field_validator

from transforms.core.outcomes import (
    DROPPED,
    KEPT,
    QUARANTINED,
    Dropped,
    Kept,
    Quarantined,
    add_provenance,
    describe_error,
)
from transforms.core.runner import StageCounters, StageOutputs
from transforms.decontam.eval_index import EvalIndex, HashTable
from transforms.decontam.eval_sets import EvalSetConfig, read_eval_set
from transforms.decontam.ngrams import cut_spans, merge_spans, words

REASON = "contaminated"
ITEMS_IN_PROVENANCE = 20  # matched item ids named per eval set; the count is always complete


class DecontaminateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    eval_sets: list[EvalSetConfig] = Field(min_length=1)
    ngram: int = Field(13, ge=1, description="words, after case, whitespace and punctuation folding")
    min_matches: int = Field(1, ge=1, description="matching n-grams that make a document contaminated")
    action: Literal["drop", "redact"] = "drop"
    min_eval_ngrams: int = Field(1, ge=1, description="an item with fewer n-grams is matched whole")
    min_item_words: int = Field(8, ge=1, description="shorter items are not searched (counted as too short)")
    min_words_after_redact: int = Field(50, ge=0, description="redact: fewer words left drops the document")

    @field_validator("eval_sets")
    @classmethod
    def _unique_names(cls, sets: list[EvalSetConfig]) -> list[EvalSetConfig]:
        names = [s.name for s in sets]
        if len(set(names)) != len(names):
            raise ValueError(f"eval set names must be unique: {names}")
        return sets


def build_index(cfg: DecontaminateConfig, config_dir: str) -> tuple[EvalIndex, dict]:
    """Read every eval set and hash its items; the per-set facts for the stats."""
    items, facts = [], {}
    for spec in cfg.eval_sets:
        read = read_eval_set(spec, config_dir)
        items += [(spec.name, item_id, text) for item_id, text in read.items]
        facts[spec.name] = {"files": read.files, "items": len(read.items), "unreadable_rows": read.unreadable,
                            "unreadable_examples": read.unreadable_examples}
    index = EvalIndex.build(items, cfg.ngram, cfg.min_eval_ngrams, cfg.min_item_words)
    for name, fact in facts.items():
        fact["items_too_short"] = index.too_short.get(name, 0)
    return index, facts


def save_index(index: EvalIndex, path: str) -> None:
    arrays = {"n": np.array(index.n), "sets": np.array([s for s, _ in index.item_ids], dtype=str),
              "ids": np.array([i for _, i in index.item_ids], dtype=str),
              "keys": index.ngrams.keys, "starts": index.ngrams.starts, "items": index.ngrams.items,
              "whole_lengths": np.array(list(index.whole), np.int64)}
    for k, table in index.whole.items():
        arrays |= {f"keys_{k}": table.keys, f"starts_{k}": table.starts, f"items_{k}": table.items}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with FileSystems.create(path) as fh:
        fh.write(buffer.getvalue())


def load_index(path: str) -> EvalIndex:
    with FileSystems.open(path) as fh:
        data = np.load(io.BytesIO(fh.read()), allow_pickle=False)
    whole = {int(k): HashTable(data[f"keys_{k}"], data[f"starts_{k}"], data[f"items_{k}"])
             for k in data["whole_lengths"]}
    return EvalIndex(int(data["n"]), list(zip(data["sets"].tolist(), data["ids"].tolist())),
                     HashTable(data["keys"], data["starts"], data["items"]), whole, {})


class _DecontaminateFn(beam.DoFn):
    def __init__(self, label: str, cfg: DecontaminateConfig):
        self._label, self._cfg = label, cfg

    def setup(self):
        self._counters = StageCounters(self._label)

    def process(self, doc, index: EvalIndex):
        self._counters.inputs.inc()
        try:  # all of one document's outputs, or none and the document quarantined with the error
            outputs = list(self._search(doc, index))
        except Exception as exc:  # noqa: BLE001 - a failing document is quarantined, not the run
            outputs = [self._counters.route(Quarantined(doc, describe_error(exc)), self._label)]
        yield from outputs

    def _search(self, doc, index: EvalIndex):
        cfg = self._cfg
        contaminated = {name: m for name, m in index.search(doc["text"]).items()
                        if m.whole or m.ngrams >= cfg.min_matches}
        if not contaminated:
            yield self._counters.route(Kept(doc), self._label)
            return
        detail = {}
        for name, m in sorted(contaminated.items()):
            ids = sorted(index.item_ids[i][1] for i in m.items)
            detail[name] = {"items": ids[:ITEMS_IN_PROVENANCE], "items_matched": len(ids), "ngrams": m.ngrams,
                            "whole_items": m.whole}
            yield beam.pvalue.TaggedOutput("contaminated", name)
            for item_id in ids:
                yield beam.pvalue.TaggedOutput("found", (name, item_id))
        spans = merge_spans([span for m in contaminated.values() for span in m.spans])
        doc = dict(doc)
        if cfg.action == "redact":
            text = cut_spans(doc["text"], spans)
            if len(words(text)[0]) >= cfg.min_words_after_redact:
                doc["text"] = text
                add_provenance(doc, self._label, "redacted", eval_sets=detail, cut_spans=spans)
                yield beam.pvalue.TaggedOutput("redacted", 1)
                yield self._counters.route(Kept(doc), self._label)
                return
        add_provenance(doc, self._label, REASON, eval_sets=detail, spans=spans)
        worst = max(contaminated, key=lambda name: (contaminated[name].ngrams + contaminated[name].whole, name))
        yield self._counters.route(Dropped(doc, f"{REASON}:{worst}"), self._label)


def _per_set(pcoll, name: str):
    """(name, {eval set: count}) from one element per (eval set) occurrence."""
    return (pcoll
            | f"Count[{name}]" >> beam.combiners.Count.PerElement()
            | f"Dict[{name}]" >> beam.combiners.ToDict()
            | f"Stat[{name}]" >> beam.Map(lambda d, n=name: (n, dict(sorted(d.items())))))


class Decontaminate(beam.PTransform):
    """Docs → kept (clean or redacted), dropped (``contaminated:<eval set>``) and stats."""

    def __init__(self, label: str, cfg: DecontaminateConfig, config_dir: str, work_dir: str):
        super().__init__(label)
        self._stage_label, self._cfg, self._config_dir = label, cfg, config_dir
        self._index_path = FileSystems.join(work_dir, "decontaminate", label, "eval-index.npz")

    def expand(self, docs):
        cfg = self._cfg
        index, facts = build_index(cfg, self._config_dir)
        save_index(index, self._index_path)
        side = docs.pipeline | "IndexPath" >> beam.Create([self._index_path]) | "LoadIndex" >> beam.Map(load_index)
        out = docs | "Search" >> beam.ParDo(_DecontaminateFn(self._stage_label, cfg), beam.pvalue.AsSingleton(side)) \
            .with_outputs(DROPPED, QUARANTINED, "contaminated", "found", "redacted", main=KEPT)
        found = out.found | "DistinctItems" >> beam.Distinct() | "SetOfItem" >> beam.Map(lambda kv: kv[0])
        stats = [
            docs.pipeline | "Facts" >> beam.Create([
                ("eval_sets", facts), ("ngram", cfg.ngram), ("action", cfg.action),
                ("index_ngrams", int(len(index.ngrams.keys))), ("index_bytes", index.nbytes)]),
            _per_set(out.contaminated, "contaminated_docs"),
            _per_set(found, "items_found"),
            out.redacted | "CountRedacted" >> beam.combiners.Count.Globally()
            | "RedactedStat" >> beam.Map(lambda n: ("redacted_docs", n)),
        ]
        return StageOutputs(out[KEPT], out[DROPPED], out[QUARANTINED], stats=stats | "AllStats" >> beam.Flatten())
