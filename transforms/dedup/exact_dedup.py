"""The ``exact_dedup`` stage: one copy per normalized-text hash, chosen deterministically.

The decision needs only keys: (hash, id) rows, packed by slice of the hash
(``transforms.core.key_slices``: a GroupByKey on the slice, so it scales with
workers, of a few bytes per document), and every id after the smallest of one
hash is dropped with reason ``exact_duplicate`` and the kept id. Ids are unique
once ``normalize`` has run, so the smallest id is the same copy on any runner and
any number of workers. The documents never meet a grouping: they are parked on
disk (``transforms.io.spill``) and read back past the dropped ids, a side input.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
import numpy as np
from pydantic import BaseModel, ConfigDict

from transforms.core.key_slices import GroupKeysBySlice, equal_runs, open_slice, run_strings
from transforms.core.outcomes import DROPPED, KEPT, Dropped, Kept, Outcome
from transforms.core.runner import RouteByDecision, StageOutputs
from transforms.core.text_hash import normalized_text_hash
from transforms.io.spill import ReadSpilled, SpillDocuments, spill_dir

REASON = "exact_duplicate"


class ExactDedupConfig(BaseModel):
    """No options yet: 'exact' means equal after whitespace folding."""

    model_config = ConfigDict(extra="forbid")


def duplicates(ids: Iterable[str]) -> Iterator[tuple[str, str]]:
    """The ids of one hash → ``(dropped id, kept id)`` for every id but the smallest."""
    ordered = sorted(ids)
    for other in ordered[1:]:
        yield other, ordered[0]


def hash_key(doc: dict) -> tuple:
    """A document as a ``key_slices`` row: its 128-bit text hash as two uint64 halves, and its id."""
    digest = normalized_text_hash(doc["text"])
    return int(digest[:16], 16), (int(digest[16:], 16),), doc["id"]


def slice_duplicates(chunks) -> Iterator[tuple[str, str]]:
    """One slice of ``hash_key`` rows → ``(dropped id, kept id)`` for every hash shared by several ids."""
    high, (low,), ids = open_slice(chunks, (np.uint64,))
    for run in run_strings(ids, equal_runs(high, low)):
        yield from duplicates(run)


def decide(doc: dict, dropped: dict[str, str]) -> Outcome:
    kept_id = dropped.get(doc["id"])
    return Kept(doc) if kept_id is None else Dropped(doc, REASON, kept_id=kept_id)


class ExactDedup(beam.PTransform):
    def __init__(self, label: str, config: ExactDedupConfig | None, work_dir: str):
        super().__init__(label)
        self._stage_label = label
        self._spill = spill_dir(work_dir, label)

    def expand(self, docs):
        dropped = (
            docs
            | "HashSlices" >> GroupKeysBySlice(hash_key, (np.uint64,))
            | "Duplicates" >> beam.FlatMap(lambda kv: slice_duplicates(kv[1]))
        )
        outputs = (
            docs
            | "Spill" >> SpillDocuments(self._spill)
            | "ReadBack" >> ReadSpilled()
            | "Apply" >> beam.ParDo(RouteByDecision(self._stage_label, decide), beam.pvalue.AsDict(dropped))
            .with_outputs(DROPPED, main=KEPT)
        )
        return StageOutputs(outputs[KEPT], outputs[DROPPED])
