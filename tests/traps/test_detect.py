"""Detection arithmetic on hand-checked cases."""
import math

import pytest

from transforms.traps.detect import group_table, min_k_prob, roc_auc, signals


def test_auc_counts_the_pairs_a_trap_wins_and_ties_as_half():
    # pairs (trap, control): 0.9 beats both, 0.8 beats both, 0.3 beats 0.1 only: 5 of 6
    assert roc_auc([0.9, 0.8, 0.3], [0.5, 0.1]) == pytest.approx(5 / 6)
    assert roc_auc([1.0, 1.0], [1.0]) == 0.5
    assert roc_auc([0.1], [0.9]) == 0.0 and roc_auc([], [0.9]) is None


def test_signals_from_token_logprobs():
    suspect = [None, -1.0, -2.0, -3.0, -4.0, -5.0]  # the first token has no logprob
    reference = [None, -2.0, -4.0, -6.0, -8.0, -10.0]
    s = signals(suspect, reference)
    assert s["ratio"] == pytest.approx(-3.0 / 6.0)  # mean losses 3 and 6
    assert s["min_k"] == -5.0  # the lowest 20% of 5 tokens: one token
    assert s["perplexity"] == pytest.approx(-math.exp(3.0))
    assert min_k_prob([-1.0] * 9 + [-10.0], 0.2) == pytest.approx(-5.5)  # two of ten


def test_groups_pair_traps_with_their_own_controls_and_all_pools_everything():
    def row(trap_id, group, reps, ratio):
        return {"trap_id": trap_id, "group": group, "length": 25, "group_repetitions": 10, "repetitions": reps,
                "signals": {"ratio": ratio, "min_k": 0.0, "perplexity": 0.0}}

    rows = [row("t1", "a", 10, 0.9), row("c1", "a", 0, 0.1), row("t2", "b", 10, 0.2), row("c2", "b", 0, 0.8)]
    # all: traps 0.9, 0.2 against controls 0.1, 0.8: 0.9 beats both, 0.2 beats 0.1: 3 of 4 pairs
    table = {g["group"]: g for g in group_table(rows)}
    assert table["a"]["auc"]["ratio"] == 1.0 and table["b"]["auc"]["ratio"] == 0.0
    assert table["all"]["auc"]["ratio"] == 0.75 and table["all"]["n_traps"] == 2 and table["a"]["auc"]["min_k"] == 0.5
