"""Compose the run: read → normalize → configured stages → sinks + ledger.

Nothing here decides anything about a document; it only wires transforms.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.config import RunConfig
from pipelines.sources import SOURCES, SourceContext, as_raw_record
from pipelines.stages import REGISTRY, StageContext
from schemas import DOCUMENT_SCHEMA, REJECTED_SCHEMA, document_to_row, rejected_to_row
from transforms.ledger import IN, CountStage, ledger_line
from transforms.normalize import STAGE as NORMALIZE, NormalizeSettings, Normalizer
from transforms.outcomes import DROPPED, KEPT, QUARANTINED, DocProcessor
from transforms.parquet_sink import WriteParquetShards, document_sort_key, rejected_sort_key
from transforms.readers import ReadInputs
from transforms.stage import ApplyDocStage

DATA_DIR = "data"
REJECTED_DIR = "rejected"
WORK_DIR = "_work"
LEDGER_FILE = "ledger.jsonl"
STATS_FILE = "stats.jsonl"


@dataclass(frozen=True)
class OutputLayout:
    root: str

    @property
    def data(self) -> str:
        return FileSystems.join(self.root, DATA_DIR)

    @property
    def rejected(self) -> str:
        return FileSystems.join(self.root, REJECTED_DIR)

    @property
    def work(self) -> str:
        return FileSystems.join(self.root, WORK_DIR)

    @property
    def ledger(self) -> str:
        return FileSystems.join(self.work, LEDGER_FILE)

    @property
    def stats(self) -> str:
        return FileSystems.join(self.work, STATS_FILE)


class _MultiInputNormalizer(DocProcessor):
    """One ``normalize`` stage over several inputs, each with its own field names."""

    def __init__(self, settings: list[NormalizeSettings]):
        self._by_input = [Normalizer(s) for s in settings]

    def process(self, raw):
        return self._by_input[raw["_input"]].process(raw)


def normalize_settings(cfg: RunConfig) -> list[NormalizeSettings]:
    """One per file input, then one per source (sources' documents are checked with the run's rules)."""
    source_settings = [
        NormalizeSettings(max_bytes=cfg.normalize.max_bytes, unicode_form=cfg.normalize.unicode_form)
        for _ in cfg.sources
    ]
    return [
        NormalizeSettings(
            text_field=spec.text_field,
            id_field=spec.id_field,
            source_field=spec.source_field,
            default_source=spec.source,
            max_bytes=cfg.normalize.max_bytes,
            unicode_form=cfg.normalize.unicode_form,
        )
        for spec in cfg.input
    ] + source_settings


def stage_labels(cfg: RunConfig) -> list[str]:
    return [s.label for s in cfg.sources] + [NORMALIZE] + [e.label for e in cfg.stage_entries()]


def build_pipeline(pipeline: beam.Pipeline, cfg: RunConfig) -> None:
    layout = OutputLayout(cfg.output.dir)
    max_line = 2 * cfg.normalize.max_bytes + 1024
    raw_parts = []
    for i, spec in enumerate(cfg.input):
        raw_parts.append(
            pipeline
            | f"Read[{i}]" >> ReadInputs(spec.paths, spec.format, max_line, spec.redistribute)
            | f"Tag[{i}]" >> beam.Map(lambda r, i=i: {**r, "_input": i})
        )
    ledger_parts, rejected_parts, stats_parts = [], [], []

    def account(label, inputs, outputs):
        ledger_parts.append(
            {IN: inputs, KEPT: outputs[KEPT], DROPPED: outputs[DROPPED], QUARANTINED: outputs[QUARANTINED]}
            | CountStage(label)
        )
        rejected_parts.extend([outputs[DROPPED], outputs[QUARANTINED]])
        if "stats" in outputs:
            stats_parts.append(
                outputs["stats"]
                | f"Stats[{label}]" >> beam.Map(lambda kv, s=label: {"stage": s, "name": kv[0], "value": kv[1]})
            )
        return outputs[KEPT]

    for j, source in enumerate(cfg.sources):
        index = len(cfg.input) + j
        ctx = SourceContext(label=source.label, seed=cfg.seed, config_dir=cfg.config_dir,
                            normalize=normalize_settings(cfg)[index], max_line_bytes=max_line)
        outputs = pipeline | source.label >> SOURCES[source.name].build(source.config, ctx)
        made = account(source.label, outputs[IN], outputs)
        raw_parts.append(made | f"ToNormalize[{source.label}]" >> beam.Map(as_raw_record, index))
    raw = raw_parts | "AllInputs" >> beam.Flatten()

    normalized = raw | NORMALIZE >> ApplyDocStage(NORMALIZE, _MultiInputNormalizer(normalize_settings(cfg)))
    docs = account(NORMALIZE, raw, normalized)

    for entry in cfg.stage_entries():
        ctx = StageContext(
            label=entry.label, seed=cfg.seed, config_dir=cfg.config_dir, output_dir=cfg.output.dir
        )
        outputs = docs | entry.label >> REGISTRY[entry.name].build(entry.config, ctx)
        docs = account(entry.label, docs, outputs)

    stats_parts.append(
        docs
        | "SourceOf" >> beam.Map(lambda d: d.get("source") or "(none)")
        | "CountSources" >> beam.combiners.Count.PerElement()
        | "SourceCounts" >> beam.combiners.ToDict()
        | "SourceStat" >> beam.Map(lambda d: {"stage": "output", "name": "rows_per_source", "value": d})
    )
    out = cfg.output
    _ = docs | "WriteData" >> WriteParquetShards(
        layout.data, DOCUMENT_SCHEMA, document_to_row, document_sort_key,
        out.shard_rows, out.row_group_rows, out.zstd_level,
    )
    rejected = rejected_parts | "AllRejected" >> beam.Flatten()
    if out.write_rejected:
        _ = rejected | "WriteRejected" >> WriteParquetShards(
            layout.rejected, REJECTED_SCHEMA, rejected_to_row, rejected_sort_key,
            out.shard_rows, out.row_group_rows, out.zstd_level,
        )
    _ = (
        ledger_parts
        | "AllLedger" >> beam.Flatten()
        | "LedgerLines" >> beam.Map(ledger_line)
        | "WriteLedger" >> beam.io.WriteToText(layout.ledger, shard_name_template="", num_shards=1)
    )
    _ = (
        stats_parts
        | "AllStats" >> beam.Flatten()
        | "StatsLines" >> beam.Map(lambda r: json.dumps(r, sort_keys=True, default=str))
        | "WriteStats" >> beam.io.WriteToText(layout.stats, shard_name_template="", num_shards=1)
    )
