"""Compose the run: read → normalize → configured stages → sinks + ledger.

Nothing here decides anything about a document; it only wires transforms.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.config import RunConfig
from pipelines.registry import REGISTRY, StageContext
from pipelines.sources import SOURCES, SourceContext, as_raw_record
from schemas import DOCUMENT_SCHEMA, REJECTED_SCHEMA, document_to_row, rejected_to_row
from transforms.core.ledger import IN, CountStage, LedgerLines
from transforms.core.outcomes import DROPPED, KEPT, QUARANTINED, DocProcessor
from transforms.core.runner import StageOutputs
from transforms.io.normalize import STAGE as NORMALIZE
from transforms.io.normalize import Normalizer, NormalizeSettings
from transforms.io.normalize_stage import NormalizeStage
from transforms.io.parquet_sink import WriteParquetShards, as_parts, document_sort_key, rejected_sort_key
from transforms.io.readers import ReadInputs
from transforms.packing.tokens import tokenizer_for
from transforms.packing.write_sequences import WriteSequences

DATA_DIR = "data"
REJECTED_DIR = "rejected"
WORK_DIR = "_work"
LEDGER_FILE = "ledger.jsonl"
STATS_FILE = "stats.jsonl"
PACKING_STATS = "packing"  # the stats record of output.packing (the run moves it to the manifest's own section)


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

    def sink_runs(self, sink: str) -> str:
        """Scratch for one sink's sorted runs (``transforms.io.shard_runs``)."""
        return FileSystems.join(self.work, "sink", sink)

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


def read_raw(pipeline: beam.Pipeline, cfg: RunConfig) -> tuple[beam.PCollection, list["StageResult"]]:
    """Every configured input, tagged with its index (normalize needs each input's field names).

    Sources (``input`` items with a ``kind``) make documents instead of reading
    them; each is accounted like a stage (its result is returned beside the
    records) and its kept documents join the read records before normalize.
    """
    max_line = 2 * cfg.normalize.max_bytes + 1024
    raw_parts, source_results = [], []
    for i, spec in enumerate(cfg.input):
        raw_parts.append(
            pipeline
            | f"Read[{i}]" >> ReadInputs(spec.paths, spec.format, max_line, spec.redistribute)
            | f"Tag[{i}]" >> beam.Map(lambda r, i=i: {**r, "_input": i})
        )
    settings = normalize_settings(cfg)
    for j, source in enumerate(cfg.sources):
        index = len(cfg.input) + j
        ctx = SourceContext(label=source.label, seed=cfg.seed, config_dir=cfg.config_dir,
                            normalize=settings[index], max_line_bytes=max_line)
        result = account(pipeline, source.label, SOURCES[source.name].build(source.config, ctx))
        source_results.append(result)
        raw_parts.append(result.kept | f"ToNormalize[{source.label}]" >> beam.Map(as_raw_record, index))
    return raw_parts | "AllInputs" >> beam.Flatten(pipeline=pipeline), source_results


def stage_steps(cfg: RunConfig, root: str) -> list[tuple[str, Callable[[], beam.PTransform]]]:
    """``(label, make transform)`` for every stage in run order, normalize first; scratch under ``root``."""
    work_dir = OutputLayout(root).work
    steps = [(NORMALIZE, lambda: NormalizeStage(NORMALIZE, _MultiInputNormalizer(normalize_settings(cfg)), work_dir))]
    for entry in cfg.stage_entries():
        ctx = StageContext(
            label=entry.label, seed=cfg.seed, config_dir=cfg.config_dir, output_dir=cfg.output.dir,
            work_dir=work_dir,
        )
        steps.append((entry.label, lambda entry=entry, ctx=ctx: REGISTRY[entry.name].build(entry.config, ctx)))
    return steps


@dataclass
class StageResult:
    """One applied stage: kept documents, rejected ones, ledger counts and stats lines."""

    kept: beam.PCollection
    rejected: list
    ledger_counts: beam.PCollection
    stats_lines: beam.PCollection | None


def account(root, label: str, transform: beam.PTransform) -> StageResult:
    """Apply a stage (or a source, from the pipeline root) and count its outputs for the ledger."""
    outputs: StageOutputs = root | label >> transform
    quarantined = outputs.quarantined
    if quarantined is None:  # the stage never quarantines: the ledger and the rejected sink still get a part
        quarantined = outputs.kept.pipeline | f"NoQuarantine[{label}]" >> beam.Create([])
    ledger_counts = (
        {IN: root if outputs.inputs is None else outputs.inputs, KEPT: outputs.kept, DROPPED: outputs.dropped,
         QUARANTINED: quarantined}
        | CountStage(label)
    )
    stats_lines = None
    if outputs.stats is not None:
        stats_lines = (
            outputs.stats
            | f"Stats[{label}]" >> beam.Map(lambda kv, s=label: stats_line({"stage": s, "name": kv[0], "value": kv[1]}))
        )
    return StageResult(outputs.kept, [outputs.dropped, quarantined], ledger_counts, stats_lines)


def stats_line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def write_outputs(docs, rejected_parts: list, ledger_parts: list, stats_parts: list, cfg: RunConfig,
                  root: str) -> None:
    """The run's sinks under ``root`` (the run's staging directory): data shards, rejected rows,
    training sequences (``output.packing``), ledger and stats lines (plus rows per source)."""
    layout = OutputLayout(root)
    stats_parts = list(stats_parts) + [
        docs
        | "SourceOf" >> beam.Map(lambda d: d.get("source") or "(none)")
        | "CountSources" >> beam.combiners.Count.PerElement()
        | "SourceCounts" >> beam.combiners.ToDict()
        | "SourceStat" >> beam.Map(lambda d: stats_line({"stage": "output", "name": "rows_per_source", "value": d}))
    ]
    out = cfg.output
    _ = docs | "WriteData" >> WriteParquetShards(
        layout.data, DOCUMENT_SCHEMA, document_to_row, document_sort_key,
        out.shard_rows, out.row_group_rows, out.zstd_level, layout.sink_runs(DATA_DIR),
    )
    if out.packing is not None:
        stats_parts.append(
            docs
            | "Pack" >> WriteSequences(root, out.packing, tokenizer_for(out.packing), out.zstd_level)
            | "PackingStat" >> beam.Map(lambda v: stats_line({"stage": PACKING_STATS, "name": "written", "value": v}))
        )
    if out.write_rejected:
        _ = as_parts(rejected_parts) | "WriteRejected" >> WriteParquetShards(
            layout.rejected, REJECTED_SCHEMA, rejected_to_row, rejected_sort_key,
            out.shard_rows, out.row_group_rows, out.zstd_level, layout.sink_runs(REJECTED_DIR),
        )
    _ = (
        ledger_parts
        | "AllLedger" >> beam.Flatten()
        | "Ledger" >> LedgerLines()
        | "WriteLedger" >> beam.io.WriteToText(layout.ledger, shard_name_template="", num_shards=1)
    )
    _ = (
        stats_parts
        | "AllStats" >> beam.Flatten()
        | "WriteStats" >> beam.io.WriteToText(layout.stats, shard_name_template="", num_shards=1)
    )


def build_pipeline(pipeline: beam.Pipeline, cfg: RunConfig, root: str) -> None:
    """The whole run as one Beam pipeline, writing under ``root``."""
    docs, source_results = read_raw(pipeline, cfg)
    rejected_parts, ledger_parts, stats_parts = [], [], []
    for result in source_results:
        rejected_parts.extend(result.rejected)
        ledger_parts.append(result.ledger_counts)
        if result.stats_lines is not None:
            stats_parts.append(result.stats_lines)
    for label, make in stage_steps(cfg, root):
        result = account(docs, label, make())
        docs = result.kept
        rejected_parts.extend(result.rejected)
        ledger_parts.append(result.ledger_counts)
        if result.stats_lines is not None:
            stats_parts.append(result.stats_lines)
    write_outputs(docs, rejected_parts, ledger_parts, stats_parts, cfg, root)
