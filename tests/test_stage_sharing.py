"""The stage runner loads a processor once per worker process and tears it down once, after its last user."""
from __future__ import annotations

import os
import pickle
from collections import Counter

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.outcomes import DocProcessor, Kept
from transforms.stage import ApplyDocStage, _DocStageFn


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
    fn = _DocStageFn("shared_stage", LoggingProcessor(str(log)), batched=False)
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
