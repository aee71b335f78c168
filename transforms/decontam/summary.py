"""The contamination table for the dataset card, the release card and the run report.

Per ``decontaminate`` stage and eval set: the items checked (and those too short
to search, or unreadable), the items found in the corpus and the documents they
contaminated. A dataset without the stage gets no section.
"""
from __future__ import annotations

import html

STAGE = "decontaminate"


def contamination_rows(manifest: dict) -> list[dict]:
    rows = []
    for label, stats in sorted((manifest.get("stage_stats") or {}).items()):
        if not label.startswith(STAGE) or "eval_sets" not in stats:
            continue
        for name, facts in sorted(stats["eval_sets"].items()):
            rows.append({"stage": label, "eval_set": name, "ngram": stats.get("ngram"), "action": stats.get("action"),
                         "items": facts.get("items", 0), "too_short": facts.get("items_too_short", 0),
                         "unreadable": facts.get("unreadable_rows", 0),
                         "found": (stats.get("items_found") or {}).get(name, 0),
                         "documents": (stats.get("contaminated_docs") or {}).get(name, 0)})
    return rows


def contamination_card(manifest: dict) -> str:
    """The card's "Decontamination" section (markdown), or "" when no eval set was checked."""
    rows = contamination_rows(manifest)
    if not rows:
        return ""
    checked = ", ".join(f"`{r['eval_set']}`" for r in rows)
    lines = [f"| {r['eval_set']} | {r['items']:,} | {r['too_short']:,} | {r['unreadable']:,} | {r['found']:,} | "
             f"{r['documents']:,} | {r['action']} |" for r in rows]
    return (
        "## Decontamination\n\n"
        f"Checked against the evaluation set(s) {checked} by word {rows[0]['ngram']}-gram overlap (case, whitespace "
        "and punctuation folded). Only verbatim overlap is found: a paraphrase sharing no n-gram is not.\n\n"
        "| eval set | items | too short to search | unreadable rows | items found | documents contaminated | "
        "action |\n|---|---:|---:|---:|---:|---:|---|\n" + "\n".join(lines) + "\n\n"
    )


def contamination_html(manifest: dict) -> str:
    rows = contamination_rows(manifest)
    if not rows:
        return ""
    cells = "".join(
        f"<tr><td>{html.escape(r['eval_set'])}</td><td>{r['items']:,}</td><td>{r['too_short']:,}</td>"
        f"<td>{r['unreadable']:,}</td><td>{r['found']:,}</td><td>{r['documents']:,}</td>"
        f"<td>{html.escape(str(r['action']))}</td></tr>" for r in rows)
    return ("<h2>Decontamination</h2><table><tr><th>eval set</th><th>items</th><th>too short</th>"
            "<th>unreadable rows</th><th>items found</th><th>documents contaminated</th><th>action</th></tr>"
            f"{cells}</table>")
