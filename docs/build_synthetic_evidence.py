"""Write docs/synthetic_evidence.md from a tinystories run and a translationese run.

    corpusmill run configs/tinystories.yaml --output out/tinystories
    corpusmill run configs/translationese.yaml --output out/translationese
    PYTHONPATH=. python docs/build_synthetic_evidence.py out/tinystories out/translationese

Reads the runs' kept and rejected Parquet rows and manifests (nothing is
recomputed): every story with its instruction, check results, judge grades and
outcome; the share of stories passing each check; every translated document's
lineage and perplexity, and the perplexity distribution.
"""
from __future__ import annotations

import json
import os
import statistics
import sys

import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transforms.synthetic.tinystories.checks import CHECKS  # noqa: E402


def rows(out: str) -> tuple[list[dict], list[dict], dict]:
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    kept = pq.read_table(os.path.join(out, "data")).to_pylist()
    rejected = pq.read_table(os.path.join(out, "rejected")).to_pylist() if manifest["totals"]["rejected_rows"] else []
    return kept, rejected, manifest


def _details(row: dict, action: str) -> list[dict]:
    return [json.loads(p["detail"]) for p in row["provenance"] or [] if p["action"] == action and p["detail"]]


def stories(out: str) -> list[str]:
    kept, rejected, manifest = rows(out)
    stories = [r for r in kept + rejected if r["source"] == "tinystories" and _details(r, "generated")]
    stories.sort(key=lambda r: r["id"])
    n = len(stories)
    lines = [f"## TinyStories: {n} prompts (`{out}`)", "",
             "Config: " + json.dumps(manifest["config"]["input"][0], sort_keys=True), "",
             "### Share passing each check", "", "| check | passed | share |", "|---|---:|---:|"]
    for check in CHECKS:
        passed = sum(1 for r in stories if _details(r, "generated")[0]["checks"][check])
        lines.append(f"| {check} | {passed}/{n} | {passed / max(n, 1):.0%} |")
    all_pass = sum(1 for r in stories if all(_details(r, "generated")[0]["checks"].values()))
    lines += [f"| **all checks** | {all_pass}/{n} | {all_pass / max(n, 1):.0%} |", ""]
    lines += ["### Ledger", "", "| stage | in | kept | dropped | quarantined | reasons |", "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {e['stage']} | {e['in']} | {e['kept']} | {e['dropped']} | {e['quarantined']} | "
              f"{json.dumps({**e['reasons'], **e['errors']})} |" for e in manifest["ledger"]]
    judged = [r for r in stories if r["judge_scores"]]
    if judged:
        lines += ["", "### Judge grades (stories that passed the checks)", "",
                  "| id | grammar | creativity | consistency | plot | mean | age group |", "|---|---:|---:|---:|---:|---:|---|"]
        for r in judged:
            s = {x["name"]: x["value"] for x in r["judge_scores"]}
            mean = statistics.mean(s.values()) if len(s) == 4 else None
            age = json.loads(r["meta"]).get("judge_age_group") if r["meta"] else None
            lines.append(f"| {r['id']} | {s.get('grammar', '–')} | {s.get('creativity', '–')} | {s.get('consistency', '–')} | "
                         f"{s.get('plot', '–')} | {mean if mean is None else round(mean, 2)} | {age} |")
    unparseable = sum(1 for r in stories if _details(r, "judge_unparseable") or any(
        p["action"] == "judge_unparseable" for p in r["provenance"] or []))
    lines += ["", f"Judge replies unparseable (recorded, kept): {unparseable}", "", "### The stories", ""]
    for r in stories:
        gen = _details(r, "generated")[0]
        outcome = f"dropped: `{r['reject_reason']}`" if r.get("reject_reason") else "kept"
        failed = [c for c, ok in gen["checks"].items() if not ok]
        lines += [f"#### {r['id']} — {outcome}", "",
                  f"- words (verb, noun, adjective): {', '.join(r['instruction_words'])}",
                  f"- features: {', '.join(r['instruction_features']) or '(none)'}",
                  f"- finish: {gen['finish_reason']}, {gen['completion_tokens']} tokens; failed checks: {failed or 'none'}",
                  "", "```text", r["text"], "```", ""]
    return lines


def translations(out: str) -> list[str]:
    kept, rejected, manifest = rows(out)
    mixed = [r for r in kept + rejected if any(p["action"] == "mixed_clean" for p in r["provenance"] or [])]
    docs = [r for r in kept + rejected if r["synthetic"] and r["source_id"]] + mixed
    docs.sort(key=lambda r: (not r["synthetic"], r["id"]))
    ppl = [r["perplexity"] for r in docs if r["perplexity"] is not None]
    stats = manifest["stage_stats"]
    lines = [f"## Translationese (`{out}`)", "",
             "Config: " + json.dumps(manifest["config"]["input"][0], sort_keys=True), "",
             "### Ledger", "", "| stage | in | kept | dropped | quarantined | reasons |", "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {e['stage']} | {e['in']} | {e['kept']} | {e['dropped']} | {e['quarantined']} | "
              f"{json.dumps({**e['reasons'], **e['errors']})} |" for e in manifest["ledger"]]
    lines += ["", f"Mixing: `{json.dumps(stats.get('translationese', {}).get('mix'))}`", ""]
    if ppl:
        lines += [f"Perplexity (SmolLM2-135M, target text) over {len(ppl)} scored rows: median {statistics.median(ppl):.2f}, "
                  f"mean {statistics.mean(ppl):.2f}, min {min(ppl):.2f}, max {max(ppl):.2f}",
                  f"perplexity_filter stats: `{json.dumps(stats.get('perplexity_filter', {}))}`", ""]
    lines += ["| id | synthetic | source_id | src→tgt | mt_model | lang (score) | perplexity | outcome | text (first 120 chars) |",
              "|---|---|---|---|---|---|---:|---|---|"]
    for r in docs:
        outcome = f"dropped `{r['reject_reason']}`" if r.get("reject_reason") else "kept"
        text = r["text"][:120].replace("\n", " ⏎ ").replace("|", "\\|")
        pair = f"{r['src_lang']}→{r['tgt_lang']}" if r["src_lang"] else "clean"
        perp = f"{r['perplexity']:.2f}" if r["perplexity"] is not None else "–"
        lines.append(f"| {r['id']} | {r['synthetic']} | {r['source_id'] or ''} | {pair} | {r['mt_model'] or ''} | "
                     f"{r['lang']} ({r['lang_score']:.2f}) | {perp} | {outcome} | {text} |")
    return lines


def main() -> None:
    ts_out, tr_out = sys.argv[1], sys.argv[2]
    lines = ["# Synthetic corpora: evidence", "", "Written by `docs/build_synthetic_evidence.py` from real runs.", ""]
    lines += stories(ts_out) + [""] + translations(tr_out)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic_evidence.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(path)


if __name__ == "__main__":
    main()
