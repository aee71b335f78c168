"""Documents parked on disk inside one pipeline, so that a decision made on compact keys
can be applied to them without routing the documents through a grouping.

A dedup stage must see every key before it can decide about any document. On
Beam's local runner (FnApiRunner) every PCollection that crosses a stage boundary
(a GroupByKey, or a ParDo waiting on a side input) is held in the runner
process's memory, so applying a decision to the documents by a join or a side
input would hold the whole corpus there. Instead the stage writes its documents
once to Parquet (``WriteToParquet``: one file per bundle, finalized), decides on
compact keys, and reads the files back (``ReadAllFromParquet``) past the decision,
a side input. Only file names and keys cross a boundary; memory stays flat as the
corpus grows, disk holds the documents. On Dataflow the same graph writes to the
run's staging directory on GCS.

Rows are ``transforms.io.checkpoint``'s staged schema (id, whole document as
JSON), so documents come back exactly as they went in.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet, WriteToParquet

from transforms.io.checkpoint import STAGED_SCHEMA, from_staged_row, to_staged_row

SPILL_DIR = "spill"  # under the run's work directory, which the run deletes when it ends
# Reading back decodes a whole row group at once (Beam's ParquetSource), so row groups are kept
# small: Beam's default buffers 64 MB per row group, several hundred MB per worker once decoded.
ROW_GROUP_BYTES = 8 * 2**20
RECORD_BATCH_ROWS = 256


def spill_dir(work_dir: str, label: str, name: str = "docs") -> str:
    return FileSystems.join(work_dir, SPILL_DIR, label, name)


class SpillDocuments(beam.PTransform):
    """Documents → the names of the Parquet files that hold them (available once all are written)."""

    def __init__(self, directory: str):
        super().__init__()
        self._directory = directory

    def expand(self, docs):
        return (
            docs
            | "ToRow" >> beam.Map(to_staged_row)
            | "Write" >> WriteToParquet(FileSystems.join(self._directory, "part"), STAGED_SCHEMA, codec="snappy",
                                        file_name_suffix=".parquet", row_group_buffer_size=ROW_GROUP_BYTES,
                                        record_batch_size=RECORD_BATCH_ROWS)
        )


class ReadSpilled(beam.PTransform):
    """File names from ``SpillDocuments`` → the documents, read in byte ranges across workers."""

    def expand(self, names):
        return (
            names
            | "Read" >> ReadAllFromParquet(columns=["doc"])
            | "ToDoc" >> beam.Map(from_staged_row)
        )
