"""MiniPile quotas and the catalogue's pure parts: exact totals, shortfall sharing, exclusions, terms, the map."""
from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from transforms.selection.catalogue import centroid_map, distinctive_terms, document_terms
from transforms.selection.quotas import ClusterFacts, equal_quotas, exclusions, proportional_quotas, selection_plan


def test_equal_shares_and_shortfall_goes_to_the_others():
    assert equal_quotas({0: 100, 1: 100, 2: 100}, 90) == {0: 30, 1: 30, 2: 30}
    # cluster 1 holds 5 < 30: it gives all, the other two share its 25 shortfall
    assert equal_quotas({0: 100, 1: 5, 2: 100}, 90) == {0: 43, 1: 5, 2: 42}
    assert equal_quotas({0: 100, 1: 5, 2: 100}, 1_000) == {0: 100, 1: 5, 2: 100}
    assert equal_quotas({0: 3, 1: 3}, 5) == {0: 3, 1: 2}  # the extra one goes to the lower id
    assert equal_quotas({}, 10) == {}


def test_proportional_shares_by_largest_remainder():
    assert proportional_quotas({0: 600, 1: 300, 2: 100}, 100) == {0: 60, 1: 30, 2: 10}
    assert proportional_quotas({0: 2, 1: 1, 2: 1}, 3) == {0: 1, 1: 1, 2: 1}  # 1.5, .75, .75: remainders win
    assert proportional_quotas({0: 0, 1: 0}, 3) == {0: 0, 1: 0}


@given(sizes=st.dictionaries(st.integers(0, 50), st.integers(0, 500), max_size=30), target=st.integers(0, 5000),
       mode=st.sampled_from([equal_quotas, proportional_quotas]))
def test_quotas_select_exactly_the_target_when_the_clusters_hold_it(sizes, target, mode):
    quotas = mode(sizes, target)
    assert set(quotas) == set(sizes)
    assert sum(quotas.values()) == min(target, sum(sizes.values()))
    assert all(0 <= quotas[c] <= sizes[c] for c in sizes)
    if mode is equal_quotas:  # no cluster that could give more gets less than another, beyond one
        open_ = [quotas[c] for c in sizes if quotas[c] < sizes[c]]
        assert not open_ or max(quotas.values()) <= min(open_) + 1


def test_exclusions_by_id_language_and_quality():
    facts = {0: ClusterFacts(10, {"en": 9, "de": 1}, 5.0, 10), 1: ClusterFacts(10, {"de": 7, "en": 3}, 9.0, 10),
             2: ClusterFacts(10, {"en": 10}, 1.0, 10), 3: ClusterFacts(10, {"en": 10})}
    why = exclusions(facts, [0], ["en"], 0.3)
    assert why == {0: "exclude_clusters", 1: "lang_not_in: most documents are de",
                   2: "mean_quality_below: mean quality_score 0.100"}  # 3 has no scores: not judged


def test_plan_keeps_everything_and_warns_when_the_target_is_larger():
    facts = {0: ClusterFacts(4), 1: ClusterFacts(6)}
    plan = selection_plan(facts, 3, 100, "equal", [1], None, None)
    assert plan["quotas"] == {0: 4, 1: 0, 2: 0} and plan["selected"] == 4 and plan["available"] == 4
    assert plan["excluded"] == {1: "exclude_clusters"}
    assert "all of them are kept" in plan["warnings"][0]


def test_distinctive_terms_prefer_what_a_cluster_has_and_others_lack():
    df = {0: Counter({"kernel": 5, "the": 5, "driver": 3}), 1: Counter({"sonnet": 4, "the": 5, "love": 2})}
    terms = distinctive_terms(df, {0: 5, 1: 5})
    assert terms[0][:2] == ["kernel", "driver"] and terms[1][0] == "sonnet"
    assert terms[0].index("the") > 1 and "love" in terms[1]
    assert document_terms("The 2 kernels' Kernel of x") == {"the", "kernels", "kernel"}


def test_centroid_map_is_two_dimensional_and_stable_in_sign():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(6, 16)).astype(np.float32)
    a, b = centroid_map(c), centroid_map(-c)
    assert len(a) == 6 and all(len(p) == 2 for p in a)
    assert np.allclose(a, b, atol=1e-4)  # the orientation does not depend on the centroids' sign
    assert centroid_map(c[:1]) == [[0.0, 0.0]]


def test_plan_warns_when_an_excluded_id_names_no_cluster():
    plan = selection_plan({0: ClusterFacts(4)}, 1, 2, "equal", [3], None, None)
    assert plan["quotas"] == {0: 2} and "exclude_clusters [3] name no cluster" in plan["warnings"][0]
