"""ScoreThenCut and Select on Beam (FnApiRunner), with a scorer that reads its score from the document."""
from __future__ import annotations

import math

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from transforms.core.outcomes import DocProcessor, Kept
from transforms.core.score_then_cut import Fixed, PercentileBand, ScoreThenCut, Select, TopFraction

SCORES = [i / 100 for i in range(100)]
OPTIONS = PipelineOptions(["--runner=FnApiRunner"])


class ReadScore(DocProcessor):
    batch_size = 8

    def process(self, doc):
        return Kept({**doc, "score": doc["raw"]})


def _ids(indices) -> list[str]:
    return [f"{i:03d}" for i in indices]


def _check(cut, kept: list[str], dropped: dict[str, str], stats: list):
    """One ScoreThenCut over SCORES: the kept ids, the (id, reason) drops and the stats, exactly."""
    with beam.Pipeline(options=OPTIONS) as p:
        docs = p | beam.Create([{"id": i, "raw": s} for i, s in zip(_ids(range(100)), SCORES)])
        out = docs | ScoreThenCut("stage", ReadScore(), "score", cut, "low", "high", cut_stat="cut")
        assert_that(out.kept | "K" >> beam.Map(lambda d: d["id"]), equal_to(kept), label="kept")
        assert_that(out.dropped | "D" >> beam.Map(lambda d: (d["id"], d["_reject"]["reason"])),
                    equal_to(list(dropped.items())), label="dropped")
        if stats:
            assert_that(out.stats, equal_to(stats), label="stats")
        else:
            assert out.stats is None  # fixed bounds are config, not a measure of the corpus


def test_fixed_bounds_are_decided_in_the_scoring_pass():
    dropped = {**{i: "low" for i in _ids(range(10))}, **{i: "high" for i in _ids(range(91, 100))}}
    _check(Fixed(low=0.1, high=0.9), _ids(range(10, 91)), dropped, [])


def test_top_fraction_exact_keeps_the_k_largest():
    first = 100 - math.ceil(0.3 * 100)
    _check(TopFraction(0.3, exact=True), _ids(range(first, 100)), {i: "low" for i in _ids(range(first))},
           [("cut", SCORES[first])])


def test_approximate_cuts_sit_on_the_quantile_grid():
    from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

    # 5 grid points over 100 scores: 0.0, 0.25, 0.5, 0.74, 0.99; the top quarter's cut is point round(0.75 · 4) = 3
    _check(TopFraction(0.25, num_quantiles=5), _ids(range(74, 100)), {i: "low" for i in _ids(range(74))},
           [("cut", 0.74)])
    grid = ApproximateQuantilesCombineFn.create(1001, epsilon=0.001).apply(SCORES)
    low, high = grid[round(0.1 * 1000)], grid[round(0.9 * 1000)]
    band = [s for s in SCORES if low <= s <= high]
    dropped = {f"{i:03d}": "low" if s < low else "high" for i, s in enumerate(SCORES) if s not in band}
    _check(PercentileBand(10, 90), _ids(int(round(s * 100)) for s in band), dropped, [("cut", [low, high])])


def test_select_keeps_by_predicate_with_side_inputs_and_marks_provenance():
    with beam.Pipeline(options=OPTIONS) as p:
        allowed = p | "Allowed" >> beam.Create([("a", True), ("c", True)])
        out = (p | beam.Create([{"id": i} for i in "abc"])
               | Select("pick", lambda d, allowed: d["id"] in allowed, "not_allowed", action="picked",
                        side={"allowed": beam.pvalue.AsDict(allowed)}))
        assert_that(out.kept | "K" >> beam.Map(lambda d: (d["id"], d["provenance"][-1]["action"])),
                    equal_to([("a", "picked"), ("c", "picked")]), label="kept")
        assert_that(out.dropped | "D" >> beam.Map(lambda d: (d["id"], d["_reject"]["reason"])),
                    equal_to([("b", "not_allowed")]), label="dropped")
