"""The run's accounting: per stage, ``in == kept + dropped + quarantined``.

Counts are computed in the pipeline (so they are exact on any runner, not
sampled metrics) and written as JSON lines; ``build_ledger`` and
``ledger_violations`` are the pure halves used after the run.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Iterable

import apache_beam as beam

from transforms.core.bundle_counts import CountInBundle
from transforms.core.outcomes import DROPPED, KEPT, QUARANTINED

IN = "in"


def reason_of(doc: dict) -> str:
    reject = doc.get("_reject") or {}
    if reject.get("outcome") == QUARANTINED:
        return (reject.get("error") or "error").split(":", 1)[0]
    return reject.get("reason") or "unspecified"


class CountStage(beam.PTransform):
    """Count one stage's input and outputs as ``((stage, outcome, reason), n)`` partial counts
    (sum them with ``LedgerLines``).

    Input: a dict with keys ``in``, ``kept``, ``dropped`` and ``quarantined``.
    """

    def __init__(self, stage: str):
        super().__init__(f"Ledger[{stage}]")
        self._stage = stage

    def expand(self, pcolls: dict):
        stage = self._stage
        parts = [
            pcolls[IN] | "CountIn" >> beam.ParDo(CountInBundle(lambda _: (stage, IN, ""))),
            pcolls[KEPT] | "CountKept" >> beam.ParDo(CountInBundle(lambda _: (stage, KEPT, ""))),
            pcolls[DROPPED] | "CountDropped" >> beam.ParDo(CountInBundle(lambda d: (stage, DROPPED, reason_of(d)))),
            pcolls[QUARANTINED]
            | "CountQuarantined" >> beam.ParDo(CountInBundle(lambda d: (stage, QUARANTINED, reason_of(d)))),
        ]
        return parts | "Flatten" >> beam.Flatten()


class LedgerLines(beam.PTransform):
    """Every stage's ``CountStage`` partial counts, flattened → one JSON line per (stage, outcome, reason)."""

    def expand(self, counted):
        return (
            counted
            | "Sum" >> beam.CombinePerKey(sum)
            | "Lines" >> beam.Map(ledger_line)
        )


def ledger_line(entry) -> str:
    (stage, outcome, reason), count = entry
    return json.dumps({"stage": stage, "outcome": outcome, "reason": reason, "count": count})


def ledger_count(line: str) -> tuple:
    """A written ledger line back as ``((stage, outcome, reason), count)``, the inverse of ``ledger_line``
    (a resumed run sums its stages' written ledgers with ``LedgerLines`` again)."""
    rec = json.loads(line)
    return (rec["stage"], rec["outcome"], rec["reason"]), rec["count"]


def build_ledger(lines: Iterable[str], stage_order: list[str], sources: Iterable[str] = ()) -> list[dict]:
    """Fold counted lines into one entry per stage, in pipeline order; ``sources`` are flagged ``source: true``."""
    table: dict[str, dict] = {
        s: {"stage": s, IN: 0, KEPT: 0, DROPPED: 0, QUARANTINED: 0, "reasons": {}, "errors": {}}
        for s in stage_order
    }
    for line in lines:
        if not line.strip():
            continue
        rec = json.loads(line)
        entry = table.setdefault(
            rec["stage"],
            {"stage": rec["stage"], IN: 0, KEPT: 0, DROPPED: 0, QUARANTINED: 0, "reasons": {}, "errors": {}},
        )
        entry[rec["outcome"]] += rec["count"]
        if rec["outcome"] == DROPPED:
            entry["reasons"][rec["reason"]] = entry["reasons"].get(rec["reason"], 0) + rec["count"]
        elif rec["outcome"] == QUARANTINED:
            entry["errors"][rec["reason"]] = entry["errors"].get(rec["reason"], 0) + rec["count"]
    for name in sources:
        if name in table:
            table[name]["source"] = True
    for entry in table.values():
        entry["reasons"] = dict(sorted(entry["reasons"].items()))
        entry["errors"] = dict(sorted(entry["errors"].items()))
    return list(table.values())


def ledger_violations(ledger: list[dict]) -> list[str]:
    """Every stage must balance, and each stage's input must be its predecessor's kept."""
    problems = []
    for entry in ledger:
        out = entry[KEPT] + entry[DROPPED] + entry[QUARANTINED]
        if entry[IN] != out:
            problems.append(
                f"stage {entry['stage']}: in={entry[IN]} but kept+dropped+quarantined={out}"
            )
    for prev, cur in zip(ledger, ledger[1:]):
        # A source's documents join the read records at normalize, so its kept count
        # is only part of the next entry's input.
        if prev.get("source"):
            continue
        if prev[KEPT] != cur[IN]:
            problems.append(
                f"stage {cur['stage']}: in={cur[IN]} but {prev['stage']} kept {prev[KEPT]}"
            )
    return problems


def input_records(ledger: list[dict]) -> int:
    """Records that entered the run: read records plus sources' inputs (prompts, documents to translate)."""
    sources = [e for e in ledger if e.get("source")]
    first = next((e for e in ledger if not e.get("source")), None)
    if first is None:
        return sum(e[IN] for e in sources)
    return first[IN] - sum(e[KEPT] for e in sources) + sum(e[IN] for e in sources)


def fold_stats(lines: Iterable[str]) -> dict[str, dict]:
    """Stage statistics lines ``{"stage", "name", "value"}`` as ``{stage: {name: value}}``."""
    stats: dict[str, dict] = defaultdict(dict)
    for line in lines:
        if line.strip():
            rec = json.loads(line)
            stats[rec["stage"]][rec["name"]] = rec["value"]
    return {k: dict(sorted(v.items())) for k, v in sorted(stats.items())}
