"""Counts summed inside each bundle, so that only partial sums cross to the grouping that totals them.

``CombinePerKey`` lifts its precombine into the stage that makes the elements,
but only when the combine consumes them directly. A Flatten of several stages'
outputs in front of one combine (one grouping for many counts: the run ledger,
a stage's stats) is a boundary of its own on FnApiRunner, so every element
would cross the runner to reach the combine. ``CountInBundle`` does the
precombine by hand where the elements are made: one ``(key, n)`` per key and
bundle crosses, whatever the runner does with the Flatten.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Hashable

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows


class CountInBundle(beam.DoFn):
    """Elements → ``(key_of(e), sum of value_of(e))`` once per key and bundle (``value_of``: 1 by default)."""

    def __init__(self, key_of: Callable[[Any], Hashable], value_of: Callable[[Any], int] | None = None):
        self._key_of = key_of
        self._value_of = value_of

    def start_bundle(self):
        self._counts: Counter = Counter()

    def process(self, element):
        self._counts[self._key_of(element)] += 1 if self._value_of is None else self._value_of(element)

    def finish_bundle(self):
        for key, n in self._counts.items():
            yield GlobalWindows.windowed_value((key, n))
