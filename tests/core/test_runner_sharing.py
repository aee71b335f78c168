"""The one stage runner: a processor loaded once per worker process and torn down once, after its last user;
side inputs and declared batch sizes; the model stages that used to carry their own copy run through it."""
from __future__ import annotations

import inspect
import os
import pickle
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from transforms.core.outcomes import DocProcessor, Kept
from transforms.core.runner import ApplyDocStage, DocStageFn


class LoggingProcessor(DocProcessor):
    """Appends 'setup PID' / 'teardown PID' to a file: what a model stage's load and release would be."""

    def __init__(self, log_path: str):
        self.log_path = log_path

    def _log(self, what: str) -> None:
        with open(self.log_path, "a") as fh:
            fh.write(f"{what} {os.getpid()}\n")

    def setup(self):
        self._log("setup")

    def teardown(self):
        self._log("teardown")

    def process(self, doc):
        return Kept({**doc, "pid": os.getpid()})


def _events(path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def test_unpickled_copies_share_one_processor_and_the_last_teardown_releases_it(tmp_path):
    log = tmp_path / "events"
    fn = DocStageFn("shared_stage", LoggingProcessor(str(log)), batched=False)
    first, second = (pickle.loads(pickle.dumps(fn)) for _ in range(2))  # what a worker does per DoFn instance
    first.setup()
    second.setup()
    assert [e.split()[0] for e in _events(log)] == ["setup"]
    first.teardown()
    assert [e.split()[0] for e in _events(log)] == ["setup"]  # the second copy still uses it
    second.teardown()
    assert [e.split()[0] for e in _events(log)] == ["setup", "teardown"]
    third = pickle.loads(pickle.dumps(fn))  # a later bundle after every copy was torn down
    third.setup()
    third.teardown()
    assert [e.split()[0] for e in _events(log)] == ["setup", "teardown", "setup", "teardown"]


@pytest.mark.slow
def test_each_worker_process_loads_the_processor_once(tmp_path):
    log = tmp_path / "events"
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                               "--direct_num_workers=2"])
    with beam.Pipeline(options=options) as p:
        outputs = (
            p
            | beam.Create([{"id": str(i), "text": f"document {i}"} for i in range(4000)])
            | beam.Reshuffle()
            | ApplyDocStage("shared_stage", LoggingProcessor(str(log)))
        )
        _ = (
            outputs.kept
            | beam.Map(lambda d: d["pid"])
            | beam.combiners.Count.PerElement()
            | beam.Map(lambda kv: print("docs per worker", kv))
        )
    setups = Counter(int(e.split()[1]) for e in _events(log) if e.startswith("setup"))
    assert setups and set(setups.values()) == {1}, setups
    assert os.getpid() not in setups  # loaded in the worker processes, not in the driver
    teardowns = Counter(int(e.split()[1]) for e in _events(log) if e.startswith("teardown"))
    assert teardowns == setups  # released once per worker, after its last user


class BatchRecorder(DocProcessor):
    """Records the size of the batch each document came in and the side input it was given."""

    batch_size = min_batch_size = 4

    def process_batch(self, docs, offset):
        return [Kept({"id": d["id"], "batch": len(docs), "offset": offset}) for d in docs]


def test_side_inputs_reach_every_batch_and_min_batch_size_gives_full_batches():
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        offset = p | "Offset" >> beam.Create([7])
        outputs = (
            p
            | beam.Create([{"id": str(i)} for i in range(16)])
            | ApplyDocStage("batched", BatchRecorder(), side={"offset": beam.pvalue.AsSingleton(offset)})
        )
        seen = outputs.kept | beam.Map(lambda d: (d["batch"], d["offset"]))
        assert_that(seen, equal_to([(4, 7)] * 16))


def _graph(transform) -> tuple[set[type], set[str]]:
    """The DoFn classes and the transform labels of a stage's graph (built, not run)."""
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    _ = p | beam.Create([{"id": "a", "text": "a"}]) | transform
    fns: set[type] = set()
    labels: set[str] = set()

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            labels.add(node.full_label.rsplit("/", 1)[-1])

        def visit_transform(self, node):
            if isinstance(node.transform, beam.ParDo):
                fns.add(type(node.transform.fn))

    p.visit(Visitor())
    return fns, labels


def test_a_shuffle_gathers_full_batches_only_where_the_processor_asks_for_them():
    per_call, adaptive = BatchRecorder(), BatchRecorder()
    adaptive.min_batch_size = 1
    assert "GatherForBatches" in _graph(ApplyDocStage("s", per_call))[1]
    assert "GatherForBatches" not in _graph(ApplyDocStage("s", adaptive))[1]


def test_model_stages_run_through_the_one_runner():
    from transforms.ordering.icp_order import IcpOrder, IcpOrderConfig
    from transforms.prox.prox_stage import ProxConfig, ProxStage
    from transforms.quality.perplexity_filter import PerplexityConfig, PerplexityFilter
    from transforms.quality.quality_classifier import QualityClassifier, QualityClassifierConfig

    stages = [
        IcpOrder("icp_order", IcpOrderConfig()),
        ProxStage("prox", ProxConfig(writer="model")),
        ProxStage("prox", ProxConfig()),  # rules: the repeated lines reach it as a side input
        QualityClassifier("quality_classifier", QualityClassifierConfig(model_path="m.bin", top_fraction=0.5), "m.bin"),
        PerplexityFilter("perplexity_filter", PerplexityConfig(percentile_band=(10, 90)), lambda: None),
    ]
    for stage in stages:
        fns, _ = _graph(stage)
        assert DocStageFn in fns, stage.label
        # no second holder of loaded models beside the runner's
        assert [f.__name__ for f in fns - {DocStageFn} if "Shared(" in inspect.getsource(f)] == [], stage.label
    assert "GatherForBatches" in _graph(stages[1])[1]  # the model writer's engine gets full batches
    assert "GatherForBatches" not in _graph(stages[2])[1]  # the rules writer has no per-call cost
