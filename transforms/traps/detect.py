"""``corpusmill traps detect``: membership inference on a trap key, as in Meeus et al. (2024).

Every trap and control of the key is scored by the suspect model and by a
reference model (``score()``: per-token log-probabilities). Three signals, each
oriented so that higher means "more likely trained on":

- ``ratio``: minus the suspect's mean token loss over the reference's (the
  paper's best signal: a sequence the suspect finds easier than the reference
  does, relative to how hard it is in general);
- ``min_k``: the mean of the lowest 20% token log-probabilities (Min-K% Prob,
  Shi et al. 2024);
- ``perplexity``: minus the suspect's perplexity.

Per group (length, repetitions, perplexity bin) the traps are the positives and
the group's controls the negatives; ROC AUC is 0.5 when the signal cannot tell
them apart. Withdrawn sequences are left out.
"""
from __future__ import annotations

import json
import math
from typing import Sequence

SIGNALS = ("ratio", "min_k", "perplexity")
MIN_K_FRACTION = 0.2


def mean_loss(logprobs: Sequence[float | None]) -> float:
    values = [lp for lp in logprobs if lp is not None]
    return -sum(values) / len(values) if values else math.inf


def min_k_prob(logprobs: Sequence[float | None], fraction: float = MIN_K_FRACTION) -> float:
    values = sorted(lp for lp in logprobs if lp is not None)
    if not values:
        return -math.inf
    k = max(1, int(len(values) * fraction))
    return sum(values[:k]) / k


def signals(suspect: Sequence[float | None], reference: Sequence[float | None]) -> dict[str, float]:
    loss, ref_loss = mean_loss(suspect), mean_loss(reference)
    return {"ratio": -loss / ref_loss if ref_loss > 0 else -math.inf,
            "min_k": min_k_prob(suspect),
            "perplexity": -math.exp(loss) if loss < 700 else -math.inf}


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """ROC AUC of traps (positives) against controls (negatives); None when either side is empty."""
    if not positives or not negatives:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([1] * len(positives) + [0] * len(negatives), list(positives) + list(negatives)))


def group_table(rows: list[dict]) -> list[dict]:
    """One entry per group, and ``all``: ``n_traps``, ``n_controls`` and ``auc`` per signal."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    table = []
    for name, members in sorted(groups.items(), key=lambda kv: (kv[1][0]["length"], kv[1][0]["group_repetitions"],
                                                                 kv[0])) + [("all", rows)]:
        traps = [r for r in members if r["repetitions"] > 0]
        controls = [r for r in members if r["repetitions"] == 0]
        first = members[0]
        table.append({"group": name, "length": first["length"] if name != "all" else None,
                      "repetitions": first["group_repetitions"] if name != "all" else None,
                      "perplexity_bin": first.get("perplexity_bin") if name != "all" else None,
                      "n_traps": len(traps), "n_controls": len(controls),
                      "auc": {s: roc_auc([r["signals"][s] for r in traps], [r["signals"][s] for r in controls])
                              for s in SIGNALS}})
    return table


def score_key(key: list[dict], suspect, reference) -> list[dict]:
    """The key's usable rows (not withdrawn) with their ``signals``; ``reference`` may be ``suspect``'s backend."""
    rows = [dict(r) for r in key if not r.get("withdrawn")]
    texts = [r["text"] for r in rows]
    scored = suspect.score(texts)
    ref_scored = scored if reference is suspect else reference.score(texts)
    for row, s, ref in zip(rows, scored, ref_scored):
        if s.error or ref.error:
            raise RuntimeError(f"scoring {row['trap_id']} failed: {s.error or ref.error}")
        row["signals"] = signals(s.logprobs, ref.logprobs)
    return rows


def format_table(table: list[dict]) -> str:
    head = "| group | traps | controls | " + " | ".join(f"AUC {s}" for s in SIGNALS) + " |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(SIGNALS)]
    for g in table:
        aucs = " | ".join("—" if g["auc"][s] is None else f"{g['auc'][s]:.3f}" for s in SIGNALS)
        lines.append(f"| {g['group']} | {g['n_traps']} | {g['n_controls']} | {aucs} |")
    return "\n".join(lines)


def plot_table(table: list[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [g["group"] for g in table]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4))
    width = 0.8 / len(SIGNALS)
    for i, signal in enumerate(SIGNALS):
        values = [g["auc"][signal] if g["auc"][signal] is not None else 0.0 for g in table]
        ax.bar([x + i * width for x in range(len(names))], values, width, label=signal)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks([x + width for x in range(len(names))], names, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("ROC AUC (traps vs controls)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_results(out_dir: str, rows: list[dict], table: list[dict], suspect: dict, reference: dict) -> str:
    """``detect.json`` (groups and per-sequence signals) and ``detect.png`` under ``out_dir``."""
    import os

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "detect.json")
    sequences = [{"trap_id": r["trap_id"], "group": r["group"], "repetitions": r["repetitions"],
                  "signals": r["signals"]} for r in rows]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"model": suspect, "reference": reference, "signals": list(SIGNALS), "groups": table,
                   "sequences": sequences}, fh, indent=2)
    plot_table(table, os.path.join(out_dir, "detect.png"), f"{suspect['model']} vs {reference['model']}")
    return path


def detect_from_key(key_path: str, suspect_cfg, reference_cfg, out_dir: str | None, log=print) -> dict:
    """Score the key with the suspect and reference backends, print the AUC table, write the results."""
    import os

    from transforms.llm.backends import make_backend
    from transforms.traps.disclosure import read_key_file

    key = read_key_file(key_path)
    if not key:
        raise ValueError(f"{key_path}: no traps in the key")
    same = suspect_cfg == reference_cfg
    suspect = make_backend(suspect_cfg)
    try:
        reference = suspect if same else make_backend(reference_cfg)
        try:
            rows = score_key(key, suspect, reference)
        finally:
            if reference is not suspect:
                reference.close()
    finally:
        suspect.close()
    table = group_table(rows)
    describe = {"suspect": {"kind": suspect_cfg.kind, "model": suspect_cfg.model},
                "reference": {"kind": reference_cfg.kind, "model": reference_cfg.model}}
    log(f"{len(rows)} sequences ({sum(1 for r in rows if r['repetitions'])} traps), "
        f"model {suspect_cfg.model} against reference {reference_cfg.model}:")
    log(format_table(table))
    path = write_results(out_dir or os.path.dirname(os.path.abspath(key_path)), rows, table,
                         describe["suspect"], describe["reference"])
    log(f"[corpusmill] wrote {path} and detect.png")
    return {"table": table, "path": path}
