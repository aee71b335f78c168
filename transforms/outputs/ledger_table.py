"""The ledger as a table, in one place for every output that shows it.

``ledger_rows`` gives each stage's cell values; ``markdown_ledger`` (dataset
card, ``corpusmill inspect``, release card) and ``html_ledger`` (run report) only
format them, so the four always agree on what a row says.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from transforms.core.ledger import IN
from transforms.core.outcomes import DROPPED, KEPT, QUARANTINED

COUNTS = (IN, KEPT, DROPPED, QUARANTINED)
TOP_REASONS = 4  # what the dataset card and ``inspect`` show of a stage's reasons


@dataclass(frozen=True)
class LedgerRow:
    stage: str
    counts: tuple[int, int, int, int]  # in, kept, dropped, quarantined
    drop_rate: float  # (dropped + quarantined) / in; 0 for a stage nothing entered
    reasons: list[tuple[str, int]]  # drop reasons and ``error:<kind>``, most frequent first


def drop_rate(entry: dict) -> float:
    return (entry[DROPPED] + entry[QUARANTINED]) / entry[IN] if entry[IN] else 0.0


def ledger_rows(ledger: list[dict], top: int | None = None) -> list[LedgerRow]:
    """One row per ledger entry; ``top`` keeps only that many reasons (ties in ledger order)."""
    rows = []
    for e in ledger:
        reasons = {**e.get("reasons", {}), **{f"error:{k}": v for k, v in e.get("errors", {}).items()}}
        ranked = sorted(reasons.items(), key=lambda kv: -kv[1])[:top]
        rows.append(LedgerRow(e["stage"], tuple(e[c] for c in COUNTS), drop_rate(e), ranked))
    return rows


def _reasons_text(reasons: list[tuple[str, int]], escape=str) -> str:
    return ", ".join(f"{escape(k)} ({v:,})" for k, v in reasons)


def markdown_ledger(ledger: list[dict], top: int | None = None, with_drop_rate: bool = False) -> str:
    """A Markdown table; ``top`` names its last column "top reasons", else "reasons"."""
    head = ["stage", *COUNTS] + (["drop rate"] if with_drop_rate else []) + ["top reasons" if top else "reasons"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
    for row in ledger_rows(ledger, top):
        cells = [row.stage, *(f"{n:,}" for n in row.counts)]
        cells += [f"{row.drop_rate:.2%}"] if with_drop_rate else []
        lines.append("| " + " | ".join(cells + [_reasons_text(row.reasons)]) + " |")
    return "\n".join(lines)


def html_ledger(ledger: list[dict]) -> str:
    """An HTML ``<table>`` with every reason."""
    head = "".join(f"<th>{h}</th>" for h in ("stage", *COUNTS, "reasons"))
    rows = [
        "<tr>" + "".join(f"<td>{c}</td>" for c in (html.escape(row.stage), *(f"{n:,}" for n in row.counts),
                                                  _reasons_text(row.reasons, html.escape))) + "</tr>"
        for row in ledger_rows(ledger)
    ]
    return "\n".join([f"<table><tr>{head}</tr>", *rows, "</table>"])
