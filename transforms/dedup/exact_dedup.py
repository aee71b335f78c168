"""The ``exact_dedup`` stage: one copy per normalized-text hash, chosen deterministically.

Grouping is a real GroupByKey on the hash, so it scales with workers. The kept
copy is the one with the smallest (id, origin_file, origin_line), so reruns and
different runners agree; every other copy is dropped with reason
``exact_duplicate`` and the kept id.
"""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam
from pydantic import BaseModel, ConfigDict

from transforms.core.outcomes import DROPPED, KEPT, Dropped, Kept, Outcome
from transforms.core.runner import RouteGroups, StageOutputs
from transforms.core.text_hash import normalized_text_hash

REASON = "exact_duplicate"


class ExactDedupConfig(BaseModel):
    """No options yet: 'exact' means equal after whitespace folding."""

    model_config = ConfigDict(extra="forbid")


def doc_order_key(doc: dict) -> tuple:
    return (doc["id"], doc.get("origin_file") or "", doc.get("origin_line") or 0)


def resolve_duplicates(docs: Iterable[dict]) -> list[Outcome]:
    """All documents sharing one hash: keep the first by ``doc_order_key``, drop the rest."""
    ordered = sorted(docs, key=doc_order_key)
    kept = ordered[0]
    outcomes: list[Outcome] = [Kept(kept)]
    outcomes.extend(Dropped(doc, REASON, kept_id=kept["id"]) for doc in ordered[1:])
    return outcomes


class ExactDedup(beam.PTransform):
    def __init__(self, label: str, config: ExactDedupConfig | None = None):
        super().__init__(label)
        self._stage_label = label

    def expand(self, docs):
        outputs = (
            docs
            | "KeyByHash" >> beam.Map(lambda d: (normalized_text_hash(d["text"]), d))
            | "Group" >> beam.GroupByKey()
            | "Resolve" >> beam.ParDo(RouteGroups(self._stage_label, resolve_duplicates)).with_outputs(DROPPED, main=KEPT)
        )
        return StageOutputs(outputs[KEPT], outputs[DROPPED])
