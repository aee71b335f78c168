"""The LSH candidate curve of minhash_dedup's default bands × rows vs datasketch's choice.

Prints a markdown table of P(candidate) = 1 − (1 − J^r)^b at several Jaccard levels and
datasketch's integrated false-positive / false-negative areas, and writes
docs/minhash_curve.png.

    .venv/bin/python docs/minhash_curve.py
"""
from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transforms.dedup.minhash_kernels import candidate_probability, choose_bands, fp_fn_areas  # noqa: E402

THRESHOLD, NUM_PERM = 0.8, 112
LEVELS = [0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def main() -> None:
    chosen = choose_bands(THRESHOLD, NUM_PERM)
    settings = [((14, 8), "14×8 (default, datatrove)"), (chosen, f"{chosen[0]}×{chosen[1]} (datasketch _optimal_param)")]
    print("| bands×rows | " + " | ".join(f"J={j}" for j in LEVELS) + " | FP area | FN area |")
    print("|---" * (len(LEVELS) + 3) + "|")
    for (b, r), name in settings:
        fp, fn = fp_fn_areas(THRESHOLD, b, r)
        cells = " | ".join(f"{candidate_probability(j, b, r):.3f}" for j in LEVELS)
        print(f"| {name} | {cells} | {fp:.4f} | {fn:.4f} |")
    js = np.linspace(0, 1, 401)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (b, r), name in settings:
        ax.plot(js, [candidate_probability(j, b, r) for j in js], label=name)
    ax.axvline(THRESHOLD, color="grey", ls="--", lw=1, label=f"threshold {THRESHOLD}")
    ax.set_xlabel("exact Jaccard of the pair")
    ax.set_ylabel("P(pair becomes an LSH candidate)")
    ax.set_title(f"MinHash LSH candidate probability, {NUM_PERM} permutations")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "minhash_curve.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
