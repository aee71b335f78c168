"""Score every document, then cut; and keep by a predicate. Both run through the one stage runner.

``ScoreThenCut`` is the shape of the model filters (quality classifier,
perplexity): a DocProcessor writes a score, and the cut keeps
``low ≤ score ≤ high``. ``Fixed`` bounds are decided in the scoring pass.
Bounds taken from the corpus are computed in Beam over all workers and reach
the cut as a side input:

- ``TopFraction(exact=True)`` gathers every score (8 bytes each) in one
  combine; the cut is the k = ceil(fraction · N)-th largest score, and ties at
  the cut are all kept, so at least k documents are.
- otherwise Beam's ``ApproximateQuantiles`` (mergeable summaries, bounded
  memory) on a grid of ``num_quantiles`` points: a bound's rank is within
  epsilon · N of its grid point, and the grid point within
  0.5 / (num_quantiles − 1) · N ranks of the wanted quantile, so each bound is
  off by at most (epsilon + 0.5 / (num_quantiles − 1)) · N ranks, plus one of
  rounding and any ties at the bound, for N below Beam's ``_MAX_NUM_ELEMENTS``
  (1e9) for which the summary is sized.

``Select`` keeps the documents a predicate accepts given side inputs (a seeded
sample, a seeded mixing probability); seeded hashes make it the same choice on
every worker and rerun.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import apache_beam as beam

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome, add_provenance
from transforms.core.runner import ApplyDocStage, StageOutputs

BELOW, ABOVE = "below", "above"


class Bounds(NamedTuple):
    low: float | None = None  # keep score ≥ low
    high: float | None = None  # keep score ≤ high


def outside(score: float, bounds: Bounds | None) -> str | None:
    """``above`` or ``below`` when the score is out of bounds (high is checked first); None inside or without bounds."""
    if bounds is None:
        return None
    if bounds.high is not None and score > bounds.high:
        return ABOVE
    if bounds.low is not None and score < bounds.low:
        return BELOW
    return None


def exact_cut(scores: Iterable[float], top_fraction: float) -> float | None:
    """The k-th largest score, k = ceil(top_fraction · N); None for an empty corpus."""
    ordered = sorted(scores, reverse=True)
    if not ordered:
        return None
    k = max(1, math.ceil(top_fraction * len(ordered)))
    return ordered[k - 1]


def grid_bounds(quantiles: Sequence[float], low: float | None, high: float | None) -> Bounds | None:
    """The grid points nearest the ``low`` and ``high`` quantiles (0–1; None: open on that side)."""
    if not quantiles:
        return None
    last = len(quantiles) - 1
    return Bounds(None if low is None else quantiles[round(low * last)],
                  None if high is None else quantiles[round(high * last)])


def _approximate_bounds(scores, num_quantiles: int, epsilon: float, low: float | None, high: float | None):
    from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

    return (scores
            | "Quantiles" >> beam.CombineGlobally(ApproximateQuantilesCombineFn.create(num_quantiles, epsilon=epsilon))
            | "GridBounds" >> beam.Map(grid_bounds, low, high))


@dataclass(frozen=True)
class Fixed:
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class TopFraction:
    """Keep the best ``fraction`` of the corpus (a lower bound only)."""

    fraction: float
    exact: bool = False
    num_quantiles: int = 1001
    epsilon: float = 0.001

    def bounds(self, scores):
        if self.exact:
            def cut(all_scores, fraction):
                value = exact_cut(all_scores, fraction)
                return None if value is None else Bounds(low=value)

            return scores | "AllScores" >> beam.combiners.ToList() | "ExactCut" >> beam.Map(cut, self.fraction)
        return _approximate_bounds(scores, self.num_quantiles, self.epsilon, 1.0 - self.fraction, None)

    def error_bound(self) -> str:
        if self.exact:
            return "exact (ties at the cut kept)"
        return (f"kept fraction = top_fraction ± {self.epsilon + 0.5 / (self.num_quantiles - 1):.6g}"
                " (+1 document of rank rounding, + ties at the cut)")

    @staticmethod
    def stat_value(bounds: Bounds | None):
        return bounds.low if bounds else None


@dataclass(frozen=True)
class PercentileBand:
    """Keep the documents between two corpus percentiles (0–100)."""

    low: float
    high: float
    num_quantiles: int = 1001
    epsilon: float = 0.001

    def bounds(self, scores):
        return _approximate_bounds(scores, self.num_quantiles, self.epsilon, self.low / 100, self.high / 100)

    @staticmethod
    def stat_value(bounds: Bounds | None):
        return [bounds.low, bounds.high] if bounds else None


class _Cut(DocProcessor):
    """Keep a scored document inside the bounds (a side input, one value for the whole corpus)."""

    def __init__(self, field: str, below: str | None, above: str | None):
        self.field = field
        self.reasons = {BELOW: below, ABOVE: above}

    def decide(self, doc: dict, bounds: Bounds | None) -> Outcome:
        side = outside(doc[self.field], bounds)
        return Kept(doc) if side is None else Dropped(doc, self.reasons[side])

    def process(self, doc: dict, bounds: Bounds | None = None) -> Outcome:
        return self.decide(doc, bounds)


class _ScoreAndCut(DocProcessor):
    """A scorer and fixed bounds in one pass: one step, counted as the stage itself."""

    def __init__(self, scorer: DocProcessor, cut: _Cut, bounds: Bounds):
        self.scorer, self.cut, self.bounds = scorer, cut, bounds
        self.batch_size, self.min_batch_size = scorer.batch_size, scorer.min_batch_size

    def setup(self) -> None:
        self.scorer.setup()

    def teardown(self) -> None:
        self.scorer.teardown()

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        return [self.cut.decide(o.doc, self.bounds) if isinstance(o, Kept) else o
                for o in self.scorer.process_batch(docs)]


class ScoreThenCut(beam.PTransform):
    """Score with ``scorer`` (it writes ``field``), then keep the documents inside ``cut``.

    ``below`` / ``above`` are the drop reasons on either side. With a corpus cut
    the scoring step counts under ``LABEL.score`` (it keeps every scored
    document), so the stage's own counts come from the cut alone; its bounds are
    a stat named ``cut_stat``.
    """

    def __init__(self, label: str, scorer: DocProcessor, field: str, cut: Fixed | TopFraction | PercentileBand,
                 below: str | None = None, above: str | None = None, cut_stat: str | None = None):
        super().__init__(label)
        self._stage_label = label
        self._scorer, self._field, self._cut = scorer, field, cut
        self._decide = _Cut(field, below, above)
        self._cut_stat = cut_stat

    def expand(self, docs):
        label, field, cut = self._stage_label, self._field, self._cut
        if isinstance(cut, Fixed):
            return docs | "ScoreAndCut" >> ApplyDocStage(
                label, _ScoreAndCut(self._scorer, self._decide, Bounds(cut.low, cut.high)))
        scored = docs | "Score" >> ApplyDocStage(f"{label}.score", self._scorer)
        bounds = cut.bounds(scored.kept | "Scores" >> beam.Map(lambda d: d[field]))
        decided = scored.kept | "Cut" >> ApplyDocStage(
            label, self._decide, side={"bounds": beam.pvalue.AsSingleton(bounds)})
        outputs = StageOutputs(
            decided.kept,
            (scored.dropped, decided.dropped) | "AllDropped" >> beam.Flatten(),
            (scored.quarantined, decided.quarantined) | "AllQuarantined" >> beam.Flatten(),
        )
        if self._cut_stat is None:
            return outputs
        name = self._cut_stat
        return outputs._replace(stats=bounds | "CutStat" >> beam.Map(lambda b: (name, cut.stat_value(b))))


class _KeepIf(DocProcessor):
    def __init__(self, label: str, keep: Callable[..., bool], reason: str, action: str | None):
        self.label, self.keep, self.reason, self.action = label, keep, reason, action

    def process(self, doc: dict, **side: Any) -> Outcome:
        if not self.keep(doc, **side):
            return Dropped(doc, self.reason)
        if self.action:
            add_provenance(doc, self.label, self.action)
        return Kept(doc)


class Select(beam.PTransform):
    """Keep a document when ``keep(doc, **side)`` is true, else drop it with ``reason``.

    ``side`` maps ``keep``'s keyword names to Beam side inputs; ``action``, if
    set, is written to the kept documents' provenance.
    """

    def __init__(self, label: str, keep: Callable[..., bool], reason: str, action: str | None = None,
                 side: dict[str, Any] | None = None):
        super().__init__(label)
        self._stage_label = label
        self._processor = _KeepIf(label, keep, reason, action)
        self._side = side

    def expand(self, docs):
        return docs | "Keep" >> ApplyDocStage(self._stage_label, self._processor, side=self._side)
