"""perplexity_filter: the NLL → perplexity arithmetic and the keep rules (the backend is tested on the llm branch)."""
import math

import pytest

from transforms.perplexity import PerplexityConfig, PerplexityScorer, band_cuts, perplexity
from transforms.outcomes import Dropped, Kept


def test_perplexity_is_exp_mean_nll_skipping_the_unscored_first_token():
    assert perplexity([None, math.log(0.5), math.log(0.25)]) == pytest.approx(math.exp((math.log(2) + math.log(4)) / 2))
    with pytest.raises(ValueError):
        perplexity([None])


def test_threshold_rules_and_band_cuts():
    scorer = PerplexityScorer("p", lambda: None, max_perplexity=100.0, min_perplexity=5.0)
    assert isinstance(scorer.decide({"perplexity": 50.0}), Kept)
    assert scorer.decide({"perplexity": 500.0}).reason == "perplexity_above_max"
    assert scorer.decide({"perplexity": 2.0}).reason == "perplexity_below_min"
    assert band_cuts([float(i) for i in range(101)], 10, 90) == (10.0, 90.0)
    with pytest.raises(Exception, match="exactly one"):
        PerplexityConfig.model_validate({"max_perplexity": 10, "percentile_band": [5, 95]})
