"""One document per id: what ``normalize`` does after it has made documents.

Policy: among the documents that share an id, the first by
``(origin_file, origin_line, source, text)`` keeps it. A later one with the
same text (whitespace-folded, as ``exact_dedup`` compares) is the same
document read twice: dropped ``exact_duplicate`` with ``kept_id``. One with a
different text is a collision the input must fix: quarantined
``duplicate_id`` with ``kept_id``. The order is a property of the records,
not of bundles, so the same occurrence wins on any number of workers.

Only ids that occur more than once are shuffled with their documents: a
key-only count finds them (a side input of colliding ids, normally tiny), and
every other document passes straight through.
"""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam

from transforms.core.outcomes import DROPPED, KEPT, QUARANTINED, Dropped, Kept, Outcome, Quarantined
from transforms.core.runner import RouteGroups, StageOutputs
from transforms.core.text_hash import normalized_text_hash

SAME_TEXT = "exact_duplicate"
COLLISION = "duplicate_id"


def doc_order_key(doc: dict) -> tuple:
    """A total order on documents that is the same on every runner: id first (unique after this stage)."""
    return (doc["id"], doc.get("origin_file") or "", doc.get("origin_line") or 0)


def occurrence_key(doc: dict) -> tuple:
    return (doc.get("origin_file") or "", doc.get("origin_line") or 0, doc.get("source") or "", doc["text"])


def resolve_id(docs: Iterable[dict]) -> list[Outcome]:
    """All documents with one id: keep the first occurrence, reject the rest (see the module docstring)."""
    ordered = sorted(docs, key=occurrence_key)
    kept = ordered[0]
    kept_hash = normalized_text_hash(kept["text"])
    where = f"{kept.get('origin_file')}:{kept.get('origin_line')}" if kept.get("origin_file") else "a generated document"
    outcomes: list[Outcome] = [Kept(kept)]
    for doc in ordered[1:]:
        if normalized_text_hash(doc["text"]) == kept_hash:
            outcomes.append(Dropped(doc, SAME_TEXT, kept_id=kept["id"]))
        else:
            outcomes.append(Quarantined(
                doc, f"{COLLISION}: id {kept['id']!r} already names a different text ({where})", kept_id=kept["id"]))
    return outcomes


class _SplitByCollision(beam.DoFn):
    COLLIDING = "colliding"

    def process(self, doc, colliding):
        if doc["id"] in colliding:
            yield beam.pvalue.TaggedOutput(self.COLLIDING, (doc["id"], doc))
        else:
            yield doc


class EnforceUniqueIds(beam.PTransform):
    """Documents → ``StageOutputs`` with every kept id unique."""

    def __init__(self, label: str):
        super().__init__()
        self._stage_label = label

    def expand(self, docs):
        colliding = (
            docs
            | "Ids" >> beam.Map(lambda d: (d["id"], 1))
            | "CountIds" >> beam.CombinePerKey(sum)
            | "Repeated" >> beam.Filter(lambda kv: kv[1] > 1)
            | "RepeatedIds" >> beam.Map(lambda kv: (kv[0], True))
        )
        split = docs | "Split" >> beam.ParDo(
            _SplitByCollision(), beam.pvalue.AsDict(colliding)
        ).with_outputs(_SplitByCollision.COLLIDING, main=KEPT)
        resolved = (
            split[_SplitByCollision.COLLIDING]
            | "GroupColliding" >> beam.GroupByKey()
            | "Resolve" >> beam.ParDo(RouteGroups(self._stage_label, resolve_id, counted_upstream=True)).with_outputs(DROPPED, QUARANTINED, main=KEPT)
        )
        return StageOutputs(
            (split[KEPT], resolved[KEPT]) | "Kept" >> beam.Flatten(), resolved[DROPPED], resolved[QUARANTINED])
