"""Sampling weights for variable-sequence-length training over Dataset Decomposition buckets.

A trainer draws each step's batch from one bucket, with a fixed token budget
per step (``budget // 2**k`` sequences of length ``2**k``). The authors' helper
(``scripts/get_dd_params.py`` in apple/ml-dataset-decomposition) sets each
bucket's mix weight to its token count times a per-bucket *odds*; buckets then
empty at rates set by the odds:

- ``uniform``: odds 1 everywhere. A bucket is drawn in proportion to its
  tokens, so every token is equally likely at every step and all buckets run
  out together (no length curriculum).
- ``grow_p2``: odds ``2**(max_log2 - k)`` (32, 16, 8, 4, 2, 1 for 2^8..2^13,
  the authors' default). Short buckets are drawn first and empty early, so the
  sequence length grows over training: the paper's short-to-long curriculum.
  The paper repeats it in cycles (one per epoch/checkpoint); a trainer does so
  by restarting the draw each cycle.

Pure functions over per-bucket token counts.
"""
from __future__ import annotations

CURRICULA = ("uniform", "grow_p2")


def odds(name: str, log2s: list[int]) -> list[float]:
    if name == "uniform":
        return [1.0 for _ in log2s]
    if name == "grow_p2":
        top = max(log2s)
        return [float(2 ** (top - k)) for k in log2s]
    raise ValueError(f"unknown curriculum {name!r}; expected one of {CURRICULA}")


def sampling_weights(name: str, tokens: dict[int, int]) -> dict[int, float]:
    """Probability of drawing the next batch from bucket ``k`` (at the start of a cycle), summing to 1.

    Empty buckets get 0. With no tokens at all every weight is 0.
    """
    log2s = sorted(tokens)
    raw = {k: tokens[k] * o for k, o in zip(log2s, odds(name, log2s))}
    total = sum(raw.values())
    return {k: (raw[k] / total if total else 0.0) for k in log2s}


def curriculum_spec(tokens: dict[int, int], sequences: dict[int, int], bucket_dirs: dict[int, str]) -> dict:
    """The ``buckets/_curriculum.json`` document: per-bucket counts and every named curriculum's weights."""
    log2s = sorted(tokens)
    return {
        "format": "corpusmill-dd-curriculum",
        "method": "Dataset Decomposition (Pouransari et al., 2024)",
        "buckets": [
            {"log2": k, "seq_len": 1 << k, "dir": bucket_dirs[k], "sequences": sequences[k], "tokens": tokens[k]}
            for k in log2s
        ],
        "batching": "each step draws one bucket by the weights below and takes token_budget // seq_len "
                    "sequences from it, so every step holds the same number of tokens",
        "curricula": {
            name: {
                "odds": dict(zip([str(k) for k in log2s], odds(name, log2s))),
                "weights": {str(k): w for k, w in sampling_weights(name, tokens).items()},
            }
            for name in CURRICULA
        },
    }
