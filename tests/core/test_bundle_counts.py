import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.core.bundle_counts import CountInBundle


def test_partial_counts_sum_to_the_totals_and_cross_once_per_key_and_bundle():
    """Per-bundle sums through a Flatten and one CombinePerKey give the exact totals, with far fewer
    elements crossing than were counted."""
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions()) as p:
        numbers = p | beam.Create(range(3000), reshuffle=False)
        partials = [
            numbers | "Mod3" >> beam.ParDo(CountInBundle(lambda x: f"mod3={x % 3}")),
            numbers | "Sum" >> beam.ParDo(CountInBundle(lambda _: "sum", lambda x: x)),
            p | "Nothing" >> beam.Create([]) | "Empty" >> beam.ParDo(CountInBundle(lambda _: "empty")),
        ]
        crossing = partials | beam.Flatten()
        totals = crossing | beam.CombinePerKey(sum)
        assert_that(totals, equal_to([("mod3=0", 1000), ("mod3=1", 1000), ("mod3=2", 1000), ("sum", 4498500)]))
        elements = crossing | "HowMany" >> beam.combiners.Count.Globally()
        assert_that(elements, fewer_than(100), label="FewPartials")


def fewer_than(limit):
    def check(counted):
        assert counted[0] < limit, f"{counted[0]} partial counts crossed for 6,000 counted elements"
    return check
