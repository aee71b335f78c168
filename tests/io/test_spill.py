"""Documents spilled to Parquet inside a pipeline come back exactly, on a real runner."""
import json

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.io.spill import ReadSpilled, SpillDocuments, spill_dir

DOCS = [
    {"id": "a", "text": "plain", "signals": {"ppl": 0.1 + 0.2, "lang_score": 1e-300}},
    {"id": "b", "text": "ünïcödé ✓ and a tab\t", "meta": {"nested": [1, 2, {"x": None}]}, "_raw": b"\x00\xffbytes"},
    {"id": "c", "text": "", "_rank": 3, "flag": True},
]


def canonical(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True, default=lambda b: b.hex())


def test_documents_come_back_exactly(tmp_path):
    directory = spill_dir(str(tmp_path), "stage")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        back = p | beam.Create(DOCS) | SpillDocuments(directory) | ReadSpilled()
        assert_that(back | beam.Map(canonical), equal_to([canonical(d) for d in DOCS]))
    assert list((tmp_path / "spill" / "stage").glob("docs/part-*.parquet"))


def test_an_empty_collection_spills_and_reads_back_empty(tmp_path):
    with beam.Pipeline(runner=FnApiRunner()) as p:
        back = p | beam.Create([]) | SpillDocuments(spill_dir(str(tmp_path), "stage")) | ReadSpilled()
        assert_that(back, equal_to([]))
