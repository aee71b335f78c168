"""The cluster catalogue a person reads before excluding clusters (MiniPile's manual step), and the centroid map.

Per cluster: size and share, language mix, mean quality score (where a quality
stage ran), the documents nearest its centroid, and distinctive terms. The
terms are class-based TF-IDF over a bounded, seeded sample of each cluster's
documents (BERTopic's c-TF-IDF): a term's document frequency in the cluster
times ``log(1 + mean documents per cluster / its frequency in all samples)``,
so words every cluster uses sink. Pure functions over small inputs.
"""
from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

NEAREST = 5
NEAREST_CHARS = 300
TERMS = 8
TERM_DOCS = 100  # documents per cluster the terms are counted in
TERM_CHARS = 2000  # of each of them
_WORD = re.compile(r"[^\W\d_]{3,}")


def document_terms(text: str) -> set[str]:
    """Lower-cased words of three or more letters (scripts without spaces give long runs; see README)."""
    return set(_WORD.findall(text[:TERM_CHARS].lower()))


def distinctive_terms(df: dict[int, Counter], docs: dict[int, int], top: int = TERMS) -> dict[int, list[str]]:
    """``top`` terms per cluster by c-TF-IDF; a term must occur in at least two of the cluster's sampled documents."""
    total: Counter = Counter()
    for counts in df.values():
        total.update(counts)
    mean_docs = sum(docs.values()) / max(1, len(docs))
    out = {}
    for c, counts in df.items():
        n = max(1, docs.get(c, 0))
        scored = [(counts[t] / n * math.log(1 + mean_docs / total[t]), t) for t in counts if counts[t] >= 2]
        out[c] = [t for _, t in sorted(scored, key=lambda st: (-st[0], st[1]))[:top]]
    return out


def centroid_map(centroids: np.ndarray) -> list[list[float]]:
    """The centroids projected on their first two principal components (a 2-D map for the report)."""
    if len(centroids) < 2:
        return [[0.0, 0.0] for _ in centroids]
    centred = centroids - centroids.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(coords), 1))])
    signs = np.where(coords[np.abs(coords).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0)  # a fixed orientation
    return [[round(float(x), 5), round(float(y), 5)] for x, y in coords * signs]


def catalogue_entries(plan: dict, facts: dict, nearest: dict[int, list], terms: dict[int, list[str]],
                      total_docs: int) -> list[dict]:
    """One entry per cluster id, in id order. ``nearest``: cluster → [(cosine, id, text prefix)], best first."""
    entries = []
    for c in range(plan["k"]):
        f = facts.get(c)
        docs = f.docs if f else 0
        entries.append({
            "cluster": c,
            "docs": docs,
            "share": round(docs / total_docs, 5) if total_docs else 0.0,
            "langs": dict(sorted((f.langs if f else {}).items(), key=lambda kv: (-kv[1], kv[0]))),
            "mean_quality": None if not f or f.mean_quality is None else round(f.mean_quality, 4),
            "quota": plan["quotas"][c],
            "excluded": plan["excluded"].get(c),
            "terms": terms.get(c, []),
            "nearest": [{"id": i, "cosine": round(cos, 4), "text": text} for cos, i, text in nearest.get(c, [])],
        })
    return entries


def catalogue_text(label: str, stats: dict) -> str:
    """The catalogue as ``corpusmill clusters OUT`` prints it: a table, then each cluster's terms and nearest documents."""
    lines = [f"{label}: k={stats['k']}, target {stats['target']:,} ({stats['per_cluster']} per cluster), "
             f"selected {stats['selected']:,} of {stats['available']:,} in kept clusters",
             "",
             "| cluster | docs | share | langs | mean quality | quota | excluded | terms |",
             "|---:|---:|---:|---|---:|---:|---|---|"]
    for e in stats["catalogue"]:
        langs = ", ".join(f"{lang} {n}" for lang, n in list(e["langs"].items())[:3])
        quality = "" if e["mean_quality"] is None else f"{e['mean_quality']:.3f}"
        lines.append(f"| {e['cluster']} | {e['docs']:,} | {e['share']:.1%} | {langs} | {quality} | {e['quota']:,} | "
                     f"{e['excluded'] or ''} | {', '.join(e['terms'][:5])} |")
    for e in stats["catalogue"]:
        lines += ["", f"cluster {e['cluster']} ({e['docs']:,} docs): {', '.join(e['terms']) or '(no terms)'}"]
        for near in e["nearest"]:
            text = " ".join(near["text"].split())
            lines.append(f"  [{near['cosine']:.3f}] {near['id']}: {text}")
    lines += ["", "To drop clusters after reading them: set stages.<label>.exclude_clusters: [ids] and run again."]
    return "\n".join(lines)
