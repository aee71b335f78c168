"""The one stage runner: a DocProcessor's decisions as tagged outputs, and what every stage returns.

Every stage transform, generic or custom, returns a ``StageOutputs``; the
pipeline builder counts it into the ledger and the sinks write kept and
rejected rows.
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from transforms.core.outcomes import (
    DROPPED,
    KEPT,
    QUARANTINED,
    DocProcessor,
    Dropped,
    Kept,
    Outcome,
    mark_rejected,
    safe_process_batch,
)

_PROGRESS_EVERY_S = 10.0


class StageOutputs(NamedTuple):
    """A stage's PCollections. A NamedTuple so Beam records each field as a named output of the composite."""

    kept: beam.PCollection
    dropped: beam.PCollection
    quarantined: beam.PCollection | None = None  # None: the stage never quarantines
    stats: beam.PCollection | None = None  # (name, value) pairs, JSON-serialisable
    inputs: beam.PCollection | None = None  # a source's input records; None: what the stage was applied to

    def with_stats(self, *parts: beam.PCollection) -> StageOutputs:
        """These outputs with more ``(name, value)`` PCollections in ``stats`` (one Flatten, labelled AllStats)."""
        parts = ((self.stats,) if self.stats is not None else ()) + parts
        return self._replace(stats=parts[0] if len(parts) == 1 else parts | "AllStats" >> beam.Flatten())


class _Progress:
    """Throttled per-worker progress lines for long local runs."""

    def __init__(self, label: str):
        self.label = label
        self.count = 0
        self.start = time.monotonic()
        self.last = self.start

    def tick(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self.last >= _PROGRESS_EVERY_S:
            self.last = now
            rate = self.count / max(now - self.start, 1e-9)
            print(
                f"[corpusmill] {self.label}: {self.count:,} docs in this worker ({rate:,.0f} docs/s)",
                flush=True,
            )


class _SharedProcessor:
    """One loaded processor per worker process, shared by every DoFn instance of a stage.

    ``Shared`` hands the same holder to every instance whose tag matches; the
    instances count themselves in and out, and the last one out tears the
    processor down (a later instance sets it up again).
    """

    def __init__(self, processor: DocProcessor):
        self.processor = processor
        self.users = 0
        self.loaded = False
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if not self.loaded:
                self.processor.setup()
                self.loaded = True
            self.users += 1

    def exit(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users == 0 and self.loaded:
                self.loaded = False
                self.processor.teardown()


class StageCounters:
    """Beam metrics for one stage: in / kept / dropped / quarantined and per-reason drops."""

    def __init__(self, label: str):
        ns = f"corpusmill.{label}"
        self._ns = ns
        self.inputs = Metrics.counter(ns, "in")
        self.kept = Metrics.counter(ns, KEPT)
        self.dropped = Metrics.counter(ns, DROPPED)
        self.quarantined = Metrics.counter(ns, QUARANTINED)
        self._reasons: dict[str, Any] = {}

    def drop(self, reason: str) -> None:
        self.dropped.inc()
        counter = self._reasons.get(reason)
        if counter is None:
            counter = self._reasons[reason] = Metrics.counter(self._ns, f"{DROPPED}:{reason}")
        counter.inc()

    def route(self, outcome, label: str):
        """Count one outcome and return what the DoFn yields: the kept document or a tagged rejected row."""
        if isinstance(outcome, Kept):
            self.kept.inc()
            return outcome.doc
        if isinstance(outcome, Dropped):
            self.drop(outcome.reason)
            return beam.pvalue.TaggedOutput(DROPPED, mark_rejected(outcome, label))
        self.quarantined.inc()
        return beam.pvalue.TaggedOutput(QUARANTINED, mark_rejected(outcome, label))


class RouteByDecision(beam.DoFn):
    """A document and a decision made elsewhere on compact keys (a side input) → its outcome, counted and routed.

    For stages that decide on keys and then stream the documents past the
    decision instead of grouping them (unique ids, exact_dedup, minhash_dedup).
    ``counted_upstream``: an earlier half of the stage already counted these
    documents in and kept, so only a rejection is counted (and taken back from kept).
    """

    def __init__(self, label: str, decide: Callable[[Any, Any], Outcome], counted_upstream: bool = False):
        self._label = label
        self._decide = decide
        self._counted_upstream = counted_upstream

    def setup(self):
        self._counters = StageCounters(self._label)

    def process(self, element, decisions):
        outcome = self._decide(element, decisions)
        if not self._counted_upstream:
            self._counters.inputs.inc()
        elif isinstance(outcome, Kept):
            yield outcome.doc
            return
        else:
            self._counters.kept.dec()
        yield self._counters.route(outcome, self._label)


class DocStageFn(beam.DoFn):
    """Side inputs arrive as keyword arguments and go to the processor with each batch."""

    def __init__(self, label: str, processor: DocProcessor, batched: bool):
        self._label = label
        self._template = processor
        self._batched = batched
        self._shared = Shared()
        # Fixed here, when the transform is built, so every unpickled copy of this DoFn
        # in a worker asks ``Shared`` for the same object (RunInference does the same).
        self._tag = f"{label}:{uuid.uuid4().hex}"

    def setup(self):
        self._holder = self._shared.acquire(lambda: _SharedProcessor(self._template), tag=self._tag)
        self._holder.enter()
        self._counters = StageCounters(self._label)
        self._progress = _Progress(self._label)

    def process(self, element, **side):
        # Processors may change the documents they are given; Beam forbids mutating
        # inputs (other consumers may hold the same objects), so each gets a copy.
        docs = [dict(d) for d in element] if self._batched else [dict(element)]
        self._counters.inputs.inc(len(docs))
        for outcome in safe_process_batch(self._holder.processor, docs, side):
            yield self._counters.route(outcome, self._label)
        self._progress.tick(len(docs))

    def teardown(self):
        holder = getattr(self, "_holder", None)
        if holder is not None:
            self._holder = None
            holder.exit()


class ApplyDocStage(beam.PTransform):
    """Run a DocProcessor over a PCollection of documents.

    Batching follows the processor's ``batch_size`` / ``min_batch_size``
    (BatchElements, so sizes adapt to the runner). ``side`` maps keyword names
    to Beam side inputs (``AsDict``, ``AsSingleton``, ...) handed to
    ``process_batch`` / ``process``. The loaded processor is shared by all DoFn
    instances of a worker.
    """

    def __init__(self, label: str, processor: DocProcessor, side: dict[str, Any] | None = None):
        super().__init__(label)
        self._stage_label = label
        self._processor = processor
        self._side = side or {}

    def expand(self, docs):
        batch_size = max(1, self._processor.batch_size)
        batched = batch_size > 1
        if batched:
            # Without ``min_batch_size`` BatchElements starts at 1 and grows, which an
            # engine that costs per call pays for on every small batch.
            min_size = min(batch_size, max(1, self._processor.min_batch_size))
            if min_size > 1:
                # BatchElements batches within a bundle, and upstream bundles can be
                # a handful of documents (a Beam-chosen split): a shuffle first gives
                # this step whole partitions, so the engine sees full batches.
                docs = docs | "GatherForBatches" >> beam.Reshuffle()
            docs = docs | "Batch" >> beam.BatchElements(
                min_batch_size=min_size, max_batch_size=batch_size
            )
        outputs = docs | "Decide" >> beam.ParDo(
            DocStageFn(self._stage_label, self._processor, batched), **self._side
        ).with_outputs(DROPPED, QUARANTINED, main=KEPT)
        return StageOutputs(outputs[KEPT], outputs[DROPPED], outputs[QUARANTINED])
