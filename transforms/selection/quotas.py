"""How many documents each k-means cluster gives to a fixed-size selection (MiniPile), and which clusters give none.

Pure functions over per-cluster counts. ``equal`` is MiniPile's rule (the same
number from every kept cluster); a cluster smaller than its share gives all it
has and the shortfall is shared among the others (water-filling), so the
selection holds exactly ``min(target, documents in kept clusters)``.
``proportional`` keeps each cluster's share of the corpus (largest remainders).
Ties go to the lower cluster id, so the quotas never depend on input order.
"""
from __future__ import annotations

from dataclasses import dataclass, field


def equal_quotas(sizes: dict[int, int], target: int) -> dict[int, int]:
    """Equal shares with shortfall sharing: sum is ``min(target, sum(sizes))``, no quota above its size."""
    left = sorted(sizes, key=lambda c: (sizes[c], c))
    remaining = min(target, sum(sizes.values()))
    quotas: dict[int, int] = {}
    while left:
        share = remaining // len(left)
        small = [c for c in left if sizes[c] <= share]
        if not small:
            extra = remaining - share * len(left)
            for i, c in enumerate(sorted(left)):
                quotas[c] = share + (1 if i < extra else 0)
            break
        for c in small:
            quotas[c] = sizes[c]
            remaining -= sizes[c]
        left = [c for c in left if c not in quotas]
    return {c: quotas.get(c, 0) for c in sorted(sizes)}


def proportional_quotas(sizes: dict[int, int], target: int) -> dict[int, int]:
    """Shares proportional to size (Hamilton's largest remainders): sum is ``min(target, sum(sizes))``."""
    total = sum(sizes.values())
    want = min(target, total)
    if total == 0:
        return {c: 0 for c in sorted(sizes)}
    exact = {c: want * n / total for c, n in sizes.items()}
    quotas = {c: int(exact[c]) for c in sizes}
    by_remainder = sorted(sizes, key=lambda c: (-(exact[c] - quotas[c]), c))
    for c in by_remainder[:want - sum(quotas.values())]:
        quotas[c] += 1
    return {c: quotas[c] for c in sorted(sizes)}


@dataclass
class ClusterFacts:
    """What the stage knows about a cluster before choosing: its size, languages and quality scores."""

    docs: int = 0
    langs: dict[str, int] = field(default_factory=dict)
    quality_sum: float = 0.0
    quality_docs: int = 0

    @property
    def mean_quality(self) -> float | None:
        return self.quality_sum / self.quality_docs if self.quality_docs else None

    @property
    def top_lang(self) -> str | None:
        return min(self.langs, key=lambda lang: (-self.langs[lang], lang)) if self.langs else None


def exclusions(facts: dict[int, ClusterFacts], listed: list[int], lang_not_in: list[str] | None,
               mean_quality_below: float | None) -> dict[int, str]:
    """Excluded cluster → why: listed by a person, or a rule over its statistics.

    ``lang_not_in``: the cluster's most common ``lang`` is not in the list.
    ``mean_quality_below``: the mean ``quality_score`` of its documents that
    have one is below the bound (a cluster without scores is not judged).
    """
    why: dict[int, str] = {}
    for c in sorted(facts):
        f = facts[c]
        if c in listed:
            why[c] = "exclude_clusters"
        elif lang_not_in is not None and f.top_lang not in lang_not_in:
            why[c] = f"lang_not_in: most documents are {f.top_lang}"
        elif mean_quality_below is not None and f.mean_quality is not None and f.mean_quality < mean_quality_below:
            why[c] = f"mean_quality_below: mean quality_score {f.mean_quality:.3f}"
    return why


def selection_plan(facts: dict[int, ClusterFacts], k: int, target: int, per_cluster: str, listed: list[int],
                   lang_not_in: list[str] | None, mean_quality_below: float | None) -> dict:
    """Quotas for every cluster id below ``k`` (0 for excluded and empty ones) and the figures behind them."""
    facts = {c: facts.get(c, ClusterFacts()) for c in range(k)}
    excluded = exclusions(facts, listed, lang_not_in, mean_quality_below)
    sizes = {c: f.docs for c, f in facts.items() if c not in excluded}
    quotas = (equal_quotas if per_cluster == "equal" else proportional_quotas)(sizes, target)
    available = sum(sizes.values())
    plan = {
        "k": k,
        "target": target,
        "per_cluster": per_cluster,
        "quotas": {c: quotas.get(c, 0) for c in range(k)},
        "excluded": excluded,
        "available": available,
        "selected": sum(quotas.values()),
        "warnings": [],
    }
    missing = sorted(c for c in listed if c >= k)
    if missing:
        plan["warnings"].append(f"exclude_clusters {missing} name no cluster: k-means made only {k} "
                                f"(fewer documents than clusters)")
    if target > available:
        plan["warnings"].append(f"target {target:,} documents, but the kept clusters hold {available:,}: "
                                f"all of them are kept")
    return plan
