"""The ``normalize`` stage as Beam runs it: raw records → documents, then one document per id.

One ledger entry covers both halves: a record that is not a document and a
document whose id another one already holds are both normalize's rejections.
Cut or corrupt input files are also reported as the statistic ``input_faults``.
"""
from __future__ import annotations

import apache_beam as beam

from transforms.core.outcomes import DocProcessor
from transforms.core.runner import ApplyDocStage, StageOutputs
from transforms.io.normalize import fault_stat
from transforms.io.spill import spill_dir
from transforms.io.unique_ids import EnforceUniqueIds


class NormalizeStage(beam.PTransform):
    def __init__(self, label: str, normalizer: DocProcessor, work_dir: str):
        super().__init__(label)
        self._stage_label = label
        self._normalizer = normalizer
        self._spill = spill_dir(work_dir, label)

    def expand(self, records):
        made = records | "Documents" >> ApplyDocStage(self._stage_label, self._normalizer)
        unique = made.kept | "UniqueIds" >> EnforceUniqueIds(self._stage_label, self._spill)
        stats = (
            made.quarantined
            | "InputFaults" >> beam.FlatMap(lambda d: [d["_input_fault"]] if "_input_fault" in d else [])
            | "AllInputFaults" >> beam.combiners.ToList()
            | "InputFaultsStat" >> beam.FlatMap(fault_stat)
        )
        return StageOutputs(
            unique.kept,
            (made.dropped, unique.dropped) | "Dropped" >> beam.Flatten(),
            (made.quarantined, unique.quarantined) | "Quarantined" >> beam.Flatten(),
            stats=stats,
        )
