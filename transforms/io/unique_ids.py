"""One document per id: what ``normalize`` does after it has made documents.

Policy: among the documents that share an id, the first by
``(origin_file, origin_line, source, text hash)`` keeps it. A later one with
the same text (whitespace-folded, as ``exact_dedup`` compares) is the same
document read twice: dropped ``exact_duplicate`` with ``kept_id``. One with a
different text is a collision the input must fix: quarantined
``duplicate_id`` with ``kept_id``. The order is a property of the records,
not of bundles, so the same occurrence wins on any number of workers (records
equal in all four are the same text read twice, and which copy stays does not
change the data).

No document is held for this: they are parked on disk once
(``transforms.io.spill``) beside those four keys; the ids, packed by slice of
their hash (``transforms.core.key_slices``), show which occur more than once
(normally none), only those ids' keys are grouped and
resolved, and the documents are read back past the decision, keyed by where
each was parked.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import apache_beam as beam
import pyarrow as pa

from transforms.core.key_slices import GroupKeysBySlice, equal_runs, open_slice, run_strings
from transforms.core.outcomes import DROPPED, KEPT, QUARANTINED, Dropped, Kept, Outcome, Quarantined
from transforms.core.runner import RouteByDecision, StageOutputs
from transforms.core.text_hash import normalized_text_hash, stable_hash64
from transforms.io.spill import ADDRESS, KeyColumn, ReadSpilled, SpillDocuments

SAME_TEXT = "exact_duplicate"
COLLISION = "duplicate_id"
OCCURRENCE_KEYS = (
    KeyColumn("id", pa.string(), lambda d: d["id"]),
    KeyColumn("origin_file", pa.string(), lambda d: d.get("origin_file")),
    KeyColumn("origin_line", pa.int64(), lambda d: d.get("origin_line")),
    KeyColumn("source", pa.string(), lambda d: d.get("source")),
    KeyColumn("text_hash", pa.string(), lambda d: normalized_text_hash(d["text"])),
)


def doc_order_key(doc: dict) -> tuple:
    """A total order on documents that is the same on every runner: id first (unique after this stage)."""
    return (doc["id"], doc.get("origin_file") or "", doc.get("origin_line") or 0)


def occurrence_key(keys: dict) -> tuple:
    return (keys["origin_file"] or "", keys["origin_line"] or 0, keys["source"] or "", keys["text_hash"],
            keys[ADDRESS])


def id_key(doc: dict) -> tuple:
    """A document's id as a ``key_slices`` row: sliced by a hash of the id, the id itself beside it."""
    return stable_hash64(doc["id"]), (), doc["id"]


def repeated_ids(chunks) -> list[str]:
    """One slice of ``id_key`` rows → every id in it that more than one row holds."""
    hashes, _, ids = open_slice(chunks, ())
    repeated = []
    for run in run_strings(ids, equal_runs(hashes)):
        counts = Counter(run)
        repeated += [doc_id for doc_id, n in counts.items() if n > 1]
    return repeated


def resolve_id(occurrences: Iterable[dict]) -> list[tuple]:
    """The key rows of all documents with one id → ``(address, rejection)`` for every one but the first.

    A rejection is ``(DROPPED, reason, kept_id)`` or ``(QUARANTINED, error, kept_id)``.
    """
    ordered = sorted(occurrences, key=occurrence_key)
    kept = ordered[0]
    where = f"{kept['origin_file']}:{kept['origin_line']}" if kept["origin_file"] else "a generated document"
    rejections = []
    for keys in ordered[1:]:
        if keys["text_hash"] == kept["text_hash"]:
            rejections.append((keys[ADDRESS], (DROPPED, SAME_TEXT, kept["id"])))
        else:
            error = f"{COLLISION}: id {kept['id']!r} already names a different text ({where})"
            rejections.append((keys[ADDRESS], (QUARANTINED, error, kept["id"])))
    return rejections


def decide(parked: tuple, rejections: dict) -> Outcome:
    """A read-back ``(address, document)`` and the rejections by address → its outcome."""
    address, doc = parked
    rejection = rejections.get(address)
    if rejection is None:
        return Kept(doc)
    outcome, why, kept_id = rejection
    if outcome == DROPPED:
        return Dropped(doc, why, kept_id=kept_id)
    return Quarantined(doc, why, kept_id=kept_id)


class EnforceUniqueIds(beam.PTransform):
    """Documents → ``StageOutputs`` with every kept id unique; documents parked under ``spill``."""

    def __init__(self, label: str, spill: str):
        super().__init__()
        self._stage_label = label
        self._spill = spill

    def expand(self, docs):
        parked = docs | "Park" >> SpillDocuments(self._spill, OCCURRENCE_KEYS)
        colliding = (
            docs
            | "IdSlices" >> GroupKeysBySlice(id_key)
            | "Repeated" >> beam.FlatMap(lambda kv: repeated_ids(kv[1]))
            | "RepeatedIds" >> beam.Map(lambda doc_id: (doc_id, True))
        )
        rejections = (
            parked
            | "ReadKeys" >> ReadSpilled(columns=[k.name for k in OCCURRENCE_KEYS])
            | "OfRepeatedIds" >> beam.Filter(lambda keys, ids: keys["id"] in ids, beam.pvalue.AsDict(colliding))
            | "ById" >> beam.Map(lambda keys: (keys["id"], keys))
            | "GroupById" >> beam.GroupByKey()
            | "Resolve" >> beam.FlatMap(lambda kv: resolve_id(kv[1]))
        )
        routed = (
            parked
            | "ReadBack" >> ReadSpilled(with_address=True)
            | "Apply" >> beam.ParDo(RouteByDecision(self._stage_label, decide, counted_upstream=True),
                                    beam.pvalue.AsDict(rejections)).with_outputs(DROPPED, QUARANTINED, main=KEPT)
        )
        return StageOutputs(routed[KEPT], routed[DROPPED], routed[QUARANTINED])
