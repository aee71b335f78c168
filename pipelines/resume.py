"""``corpusmill run CONFIG --resume``: one Beam job per stage, each output materialized and reused.

Stage ``NN`` writes its kept and rejected documents (``transforms.io.checkpoint``),
ledger lines and stats under ``OUT/_stages/NN-LABEL-KEY/`` and, last, a
``_SUCCESS.json`` marker. ``KEY`` hashes the stage's name and config, the seed,
the schema version and the upstream stage's key; the first stage's key also
covers the input specs and a fingerprint (path, size, mtime) of every input
file. A rerun skips each stage whose directory has a marker for the same key
and starts from the first one that does not, so a killed run loses at most the
stage it was in. A final job writes the shards, rejected rows, ledger and
stats exactly as a one-job run does, so the dataset bytes are the same.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.build import account, read_raw, stage_steps, write_outputs
from pipelines.config import RunConfig
from pipelines.sources import SOURCES
from schemas import SCHEMA_VERSION
from transforms.core.ledger import LedgerLines, ledger_count
from transforms.io.checkpoint import ReadStaged, WriteStaged
from transforms.io.parquet_sink import as_parts, document_sort_key, rejected_sort_key

STAGES_DIR = "_stages"
MARKER = "_SUCCESS.json"
KEPT_DIR, REJECTED_DIR = "kept", "rejected"
LEDGER, STATS = "ledger.jsonl", "stats.jsonl"


@dataclass(frozen=True)
class PlannedStage:
    index: int
    label: str
    key: str
    directory: str

    def path(self, name: str) -> str:
        return FileSystems.join(self.directory, name)


def _hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def input_fingerprint(cfg: RunConfig) -> list:
    files = []
    patterns = [p for spec in cfg.input for p in spec.paths]
    patterns += [p for s in cfg.sources for p in SOURCES[s.name].input_paths(s.config)]
    for pattern in patterns:
        for meta in FileSystems.match([pattern])[0].metadata_list:
            files.append([meta.path, meta.size_in_bytes, meta.last_updated_in_seconds])
    return sorted(files)


def stage_keys(cfg: RunConfig, fingerprint: list) -> list[tuple[str, str]]:
    """``(label, key)`` per stage; a change anywhere upstream changes every key below it."""
    base = {"schema": SCHEMA_VERSION, "seed": cfg.seed}
    key = _hash({**base, "stage": "normalize", "normalize": cfg.normalize.model_dump(),
                 "inputs": [s.model_dump() for s in cfg.input], "files": fingerprint,
                 "sources": [[s.name, s.config.model_dump(mode="json")] for s in cfg.sources]})
    keys = [("normalize", key)]
    for entry in cfg.stage_entries():
        key = _hash({**base, "upstream": key, "stage": entry.name, "config": entry.config.model_dump(mode="json")})
        keys.append((entry.label, key))
    return keys


def plan(cfg: RunConfig) -> list[PlannedStage]:
    root = FileSystems.join(cfg.output.dir, STAGES_DIR)
    return [
        PlannedStage(i, label, key, FileSystems.join(root, f"{i:02d}-{label.replace('#', '_')}-{key}"))
        for i, (label, key) in enumerate(stage_keys(cfg, input_fingerprint(cfg)))
    ]


def is_done(stage: PlannedStage) -> bool:
    if not FileSystems.exists(stage.path(MARKER)):
        return False
    with FileSystems.open(stage.path(MARKER)) as fh:
        return json.loads(fh.read().decode("utf-8")).get("key") == stage.key


def _run_stage(cfg, stage, make, upstream, new_pipeline) -> list:
    if FileSystems.exists(stage.directory):  # a stage the last run did not finish
        FileSystems.delete([stage.directory])
    pipeline = new_pipeline()
    sources = []  # the first stage's job also runs the sources and keeps their accounting
    if upstream is None:
        docs, sources = read_raw(pipeline, cfg)
    else:
        docs = pipeline | "ReadUpstream" >> ReadStaged(upstream.path(KEPT_DIR))
    result = account(docs, stage.label, make())
    results = sources + [result]
    out = cfg.output
    _ = result.kept | "WriteKept" >> WriteStaged(stage.path(KEPT_DIR), document_sort_key, out.shard_rows, out.zstd_level)
    _ = (as_parts([r for res in results for r in res.rejected])
         | "WriteRejected" >> WriteStaged(stage.path(REJECTED_DIR), rejected_sort_key, out.shard_rows, out.zstd_level))
    _ = ([res.ledger_counts for res in results] | "AllLedger" >> beam.Flatten() | "Ledger" >> LedgerLines()
         | "WriteLedger" >> beam.io.WriteToText(stage.path(LEDGER), shard_name_template="", num_shards=1))
    stats = [res.stats_lines for res in results if res.stats_lines is not None]
    stats = stats | "AllStats" >> beam.Flatten() if stats else pipeline | "NoStats" >> beam.Create([])
    _ = stats | "WriteStats" >> beam.io.WriteToText(stage.path(STATS), shard_name_template="", num_shards=1)
    finished = pipeline.run()
    finished.wait_until_finish()
    with FileSystems.create(stage.path(MARKER), mime_type="application/json") as fh:
        fh.write(json.dumps({"label": stage.label, "key": stage.key}).encode("utf-8"))
    return [finished]


def run_stages(cfg: RunConfig, new_pipeline: Callable[[], beam.Pipeline], root: str, log=print) -> tuple[dict, list]:
    """Run (or reuse) every stage, then the final write job into ``root``; return resume facts and the job results.

    Stage outputs stay under ``OUT/_stages`` (not ``root``): they outlive a failed run, which is their point.
    """
    stages = plan(cfg)
    results, facts = [], []
    previous = None
    for stage, (label, make) in zip(stages, stage_steps(cfg, root)):
        skipped = is_done(stage)
        if skipped:
            log(f"[corpusmill] stage {stage.index:02d} {label}: materialized (key {stage.key}), skipped")
        else:
            log(f"[corpusmill] stage {stage.index:02d} {label}: running (key {stage.key})")
            results += _run_stage(cfg, stage, make, previous, new_pipeline)
        facts.append({"stage": label, "key": stage.key, "dir": stage.directory, "skipped": skipped})
        previous = stage

    pipeline = new_pipeline()
    docs = pipeline | "ReadFinal" >> ReadStaged(previous.path(KEPT_DIR))
    rejected = [pipeline | f"ReadRejected[{s.label}]" >> ReadStaged(s.path(REJECTED_DIR)) for s in stages]
    ledger = [pipeline | f"ReadLedger[{s.label}]" >> beam.io.ReadFromText(s.path(LEDGER))
              | f"LedgerCounts[{s.label}]" >> beam.Map(ledger_count) for s in stages]
    stats = [pipeline | f"ReadStats[{s.label}]" >> beam.io.ReadFromText(s.path(STATS)) for s in stages]
    write_outputs(docs, rejected, ledger, stats, cfg, root)
    final = pipeline.run()
    final.wait_until_finish()
    results.append(final)
    return {"stages": facts, "skipped": [f["stage"] for f in facts if f["skipped"]]}, results
