"""Run a validated config end to end and write manifest, card and summary."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import python_urns
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipelines.build import PACKING_STATS, OutputLayout, build_pipeline, stage_labels
from pipelines.config import ConfigError, RunConfig, config_as_data
from pipelines.malloc_tuning import tune_malloc
from schemas import DOCUMENT_SCHEMA, SCHEMA_VERSION
from transforms.core.ledger import build_ledger, fold_stats, input_records, ledger_violations
from transforms.io.dataset_dir import check_replaceable, commit, new_staging, recover
from transforms.io.normalize import input_fault_warnings
from transforms.io.parquet_sink import parquet_bytes, shard_name, write_file
from transforms.outputs.dataset_card import render_card
from transforms.outputs.manifest import (
    MANIFEST,
    describe_file,
    git_commit,
    list_parquet,
    package_versions,
    write_json,
)
from transforms.outputs.report import write_report
from transforms.packing.summary import packing_section
from transforms.packing.tokens import TokenizerError, tokenizer_for
from transforms.packing.write_sequences import BUCKETS_DIR, PACKED_DIR
from transforms.traps.copyright_traps import TRAP_KEY, TRAP_KEY_FILE


class LedgerError(RuntimeError):
    """The accounting does not balance: some input was lost or counted twice."""


def pipeline_options(cfg: RunConfig, beam_args: list[str]) -> PipelineOptions:
    flags = [f"--runner={cfg.runner.name}"]
    for key, value in cfg.runner.options.items():
        if isinstance(value, bool):
            flags.append(f"--{key}" if value else f"--no{key}")
        else:
            flags.append(f"--{key}={value}")
    return PipelineOptions(flags + list(beam_args))


class QuietWorkersFnApiRunner(FnApiRunner):
    """FnApiRunner whose ``multi_processing`` workers start as ``pipelines.worker`` (quiet stderr, see there)."""

    def run_via_runner_api(self, pipeline_proto, options):
        beam_worker = f"{sys.executable} -m apache_beam.runners.worker.sdk_worker_main".encode()
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK and environment.payload == beam_worker:
                environment.payload = f"{sys.executable} -m pipelines.worker".encode()
        return super().run_via_runner_api(pipeline_proto, options)


def new_pipeline(cfg: RunConfig, beam_args: list[str]) -> beam.Pipeline:
    """The run's Beam pipeline; on FnApiRunner the runner above, so local worker processes stay quiet,
    and this process (the local runner) with the local runs' malloc settings."""
    options = pipeline_options(cfg, beam_args)
    if runner_name(cfg, beam_args) == "FnApiRunner":
        tune_malloc()
        return beam.Pipeline(runner=QuietWorkersFnApiRunner(), options=options)
    return beam.Pipeline(options=options)


# Runners whose workers are other machines: paths on this machine's disk do not exist there.
_REMOTE_WORKER_RUNNERS = {"DataflowRunner"}


def runner_name(cfg: RunConfig, beam_args: list[str] | None = None) -> str:
    """The runner Beam will use: the config's, unless ``--runner`` in the Beam arguments overrides it."""
    from apache_beam.options.pipeline_options import StandardOptions

    runner = pipeline_options(cfg, beam_args or []).view_as(StandardOptions).runner or "DirectRunner"
    return str(runner).rsplit(".", 1)[-1]


def _local_paths_for_remote_workers(cfg: RunConfig, runner: str) -> list[str]:
    """Input and output paths a Dataflow job could not use: they name this machine's disk."""
    from transforms.core.paths import is_remote

    if runner not in _REMOTE_WORKER_RUNNERS:
        return []
    where = f"{runner} workers cannot read or write this machine's disk; use a gs:// path"
    problems = [f"input path {p}: a local path; {where}" for spec in cfg.input for p in spec.paths if not is_remote(p)]
    if not is_remote(cfg.output.dir):
        problems.append(f"output.dir {cfg.output.dir}: a local path; {where}")
    return problems


def preflight(cfg: RunConfig, runner: str = "FnApiRunner") -> None:
    """Everything that can be checked before Beam starts, path problems first (listing gs:// can be slow)."""
    problems = _local_paths_for_remote_workers(cfg, runner) + stage_file_problems(cfg, runner)
    problems += packing_problems(cfg, runner)
    if problems:
        raise ConfigError("\n".join(problems))
    check_inputs(cfg)


def packing_problems(cfg: RunConfig, runner: str = "FnApiRunner") -> list[str]:
    """``output.packing``'s tokenizer must load (a bundled one is prepared here, once) and, for
    remote workers, not be a file on this machine."""
    from transforms.core.paths import is_remote

    spec = cfg.output.packing
    if spec is None:
        return []
    try:
        tokenizer = tokenizer_for(spec)
    except TokenizerError as exc:
        return [f"output.packing.tokenizer = {spec.tokenizer!r}: {exc}"]
    if runner in _REMOTE_WORKER_RUNNERS and not is_remote(tokenizer.path):
        return [f"output.packing.tokenizer = {spec.tokenizer!r}: {tokenizer.path} is a local file; {runner} "
                f"workers cannot read this machine's disk: copy the tokenizer directory to a gs:// path and set that"]
    return []


def _packing_files(staging: str) -> list[dict]:
    root = staging.rstrip("/") + "/"
    patterns = [FileSystems.join(staging, BUCKETS_DIR, "*", "part-*.parquet"),
                FileSystems.join(staging, PACKED_DIR, "part-*.parquet")]
    paths = sorted(m.path for match in FileSystems.match(patterns) for m in match.metadata_list)
    return [describe_file(p, root) for p in paths]


def _write_under(staging: str):
    def write(rel: str, data: bytes) -> None:
        write_file(FileSystems.join(staging, rel), data)
    return write


def write_trap_key(stage_stats: dict, write) -> dict | None:
    """Move copyright_traps' key out of the stats (so out of the manifest) into ``traps/traps.jsonl``;
    the manifest gets its path, row count and sha256, which tie the key to this run and reveal nothing."""
    rows = [dict(row, stage=stage) for stage, stats in stage_stats.items() for row in stats.pop(TRAP_KEY, None) or []]
    if not rows:
        return None
    data = "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    write(TRAP_KEY_FILE, data)
    return {"key": TRAP_KEY_FILE, "rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}


def stage_warnings(stage_stats: dict) -> list[str]:
    """Console lines for the ``warnings`` a stage put in its stats (they stay in the manifest too)."""
    return [f"[corpusmill] warning: {stage}: {w}" for stage, stats in stage_stats.items()
            for w in stats.get("warnings", [])]


def check_inputs(cfg: RunConfig) -> None:
    from pipelines.sources import SOURCES

    patterns = [p for spec in cfg.input for p in spec.paths]
    patterns += [p for s in cfg.sources for p in SOURCES[s.name].input_paths(s.config)]
    for pattern in patterns:
        try:
            found = FileSystems.match([pattern])[0].metadata_list
        except Exception as exc:  # noqa: BLE001 - report any filesystem failure as a config problem
            raise ConfigError(f"input path {pattern}: cannot list ({exc})") from None
        if not found:
            raise ConfigError(f"input path {pattern}: matches no files")


def stage_file_problems(cfg: RunConfig, runner: str = "FnApiRunner") -> list[str]:
    """The local model files (or directories) stages will open that are missing (a missing
    model fails before Beam starts) or, on a runner whose workers are other machines, local at all.

    Remote paths (gs://, …) are left to the workers: the driver may have no
    credentials for them (a Dataflow launch from a laptop).
    """
    import os

    from pipelines.registry import REGISTRY
    from transforms.core.paths import is_remote, resolve_path

    problems = []
    for entry in cfg.stage_entries():
        files = REGISTRY[entry.name].files
        for key, (path, remedy) in (files(entry.config) if files else {}).items():
            if path is None or is_remote(path):
                continue
            resolved = resolve_path(path, cfg.config_dir)
            if runner in _REMOTE_WORKER_RUNNERS:
                problems.append(f"stages.{entry.label}.{key} = {path!r}: a local file; {runner} workers "
                                f"cannot read this machine's disk: copy it to a gs:// path and set that")
            elif not os.path.exists(resolved):
                problems.append(f"stages.{entry.label}.{key} = {path!r}: not found ({resolved}); {remedy}")
    return problems


def _read_lines(path: str) -> list[str]:
    if not FileSystems.exists(path):
        return []
    with FileSystems.open(path) as fh:
        return fh.read().decode("utf-8").splitlines()


def _beam_counters(result) -> dict[str, int]:
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # noqa: BLE001 - some runners do not report metrics
        return {}
    out = {}
    for c in counters:
        ns = c.key.metric.namespace
        if ns.startswith("corpusmill."):
            key = f"{ns[len('corpusmill.'):]}/{c.key.metric.name}"
            out[key] = out.get(key, 0) + (c.committed or 0)
    return dict(sorted(out.items()))


def _sum_counters(parts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))


def run(cfg: RunConfig, beam_args: list[str] | None = None, log=print, resume: bool = False,
        overwrite: bool = False) -> dict:
    """Run the pipeline; return the manifest. Raises LedgerError if accounting fails.

    The output directory is replaced only by a finished run whose ledger
    balances, and only with ``overwrite`` when it already holds a dataset
    (``transforms.io.dataset_dir``). With ``resume``, each stage is its own job
    whose output is materialized and reused by a rerun (``pipelines.resume``).
    """
    runner = runner_name(cfg, beam_args)
    preflight(cfg, runner)
    root = cfg.output.dir
    if FileSystems.exists(root):
        recover(root, log)
        check_replaceable(root, overwrite)
    else:
        FileSystems.mkdirs(root)
    staging = new_staging(root)
    try:
        manifest = _run_into(cfg, staging, beam_args or [], log, resume, runner)
    except LedgerError as exc:
        raise LedgerError(f"{exc}; nothing in {root} was replaced, the output is kept for inspection in "
                          f"{staging} (the next run removes it)") from None
    except BaseException:  # failed or interrupted: leave nothing half-written behind
        FileSystems.delete([staging]) if FileSystems.exists(staging) else None
        raise
    commit(staging, root)
    totals = manifest["totals"]
    log(
        f"[corpusmill] done in {manifest['timings']['pipeline_seconds']:.1f}s: {totals['input_records']:,} records in, "
        f"{totals['kept_rows']:,} kept in {len(manifest['shards'])} shard(s), {totals['rejected_rows']:,} rejected"
    )
    return manifest


def _run_into(cfg: RunConfig, staging: str, beam_args: list[str], log, resume: bool, runner: str) -> dict:
    """Run the pipeline writing under ``staging``; write card, report and (last) manifest there."""
    layout = OutputLayout(staging)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    log(f"[corpusmill] running {len(cfg.stage_entries())} stage(s) on {runner} → {cfg.output.dir}")
    resumed = None
    if resume:
        from pipelines.resume import run_stages

        resumed, results = run_stages(cfg, lambda: new_pipeline(cfg, beam_args), staging, log)
    else:
        pipeline = new_pipeline(cfg, beam_args)
        build_pipeline(pipeline, cfg, staging)
        results = [pipeline.run()]
    for result in results:
        state = result.wait_until_finish()
        if state not in (beam.runners.runner.PipelineState.DONE, None):
            raise RuntimeError(f"pipeline ended in state {state}")
    wall = time.monotonic() - t0

    ledger = build_ledger(_read_lines(layout.ledger), stage_labels(cfg), [s.label for s in cfg.sources])
    stats = fold_stats(_read_lines(layout.stats))
    packing_written = stats.pop(PACKING_STATS, {}).get("written", {})
    traps = write_trap_key(stats, _write_under(staging))
    FileSystems.delete([layout.work])
    shards = list_parquet(layout.data)
    if not shards:  # an empty result is still a loadable dataset
        path = FileSystems.join(layout.data, shard_name(0, 1))
        write_file(path, parquet_bytes([], DOCUMENT_SCHEMA, cfg.output.row_group_rows, cfg.output.zstd_level))
        shards = [path]
    root = staging.rstrip("/") + "/"
    shard_info = [describe_file(p, root) for p in shards]
    rejected_info = [describe_file(p, root) for p in list_parquet(layout.rejected)]
    kept_rows = sum(s["rows"] for s in shard_info)
    problems = ledger_violations(ledger)
    problems += [p for stage_stats in stats.values() for p in stage_stats.get("problems", [])]
    final_kept = ledger[-1]["kept"] if ledger else 0
    if kept_rows != final_kept:
        problems.append(f"shards hold {kept_rows} rows but the last stage kept {final_kept}")
    packing = None
    if cfg.output.packing is not None:
        packing, packing_problems = packing_section(
            cfg.output.packing.model_dump(mode="json"), tokenizer_for(cfg.output.packing).as_dict(), packing_written,
            _packing_files(staging), kept_rows, _write_under(staging))
        problems += packing_problems
    rejected_rows = sum(s["rows"] for s in rejected_info)
    expected_rejected = sum(e["dropped"] + e["quarantined"] for e in ledger)
    if cfg.output.write_rejected and rejected_rows != expected_rejected:
        problems.append(f"rejected/ holds {rejected_rows} rows but the ledger rejected {expected_rejected}")

    manifest = {
        "format": "corpusmill-dataset",
        "schema_version": SCHEMA_VERSION,
        "status": "ok" if not problems else "ledger_error",
        "totals": {
            "input_records": input_records(ledger),
            "kept_rows": kept_rows,
            "rejected_rows": rejected_rows,
            "data_bytes": sum(s["bytes"] for s in shard_info),
        },
        "shards": shard_info,
        "rejected": rejected_info,
        "ledger": ledger,
        "ledger_problems": problems,
        "stage_stats": stats,
        "beam_counters": _sum_counters([_beam_counters(r) for r in results]),
        "config": config_as_data(cfg),
        "seed": cfg.seed,
        "runner": cfg.runner.name,
        "packages": package_versions(),
        "git_commit": git_commit(),
        "timings": {
            "started": started.isoformat(timespec="seconds"),
            "pipeline_seconds": round(wall, 2),
        },
    }
    if packing is not None:
        manifest["packing"] = packing
    if traps is not None:
        manifest["traps"] = traps
    if resumed is not None:
        manifest["resume"] = resumed
    with FileSystems.create(FileSystems.join(staging, "README.md"), mime_type="text/markdown") as fh:
        fh.write(render_card(manifest).encode("utf-8"))
    write_report(staging, manifest)
    write_json(FileSystems.join(staging, MANIFEST), manifest)
    for line in input_fault_warnings(stats) + stage_warnings(stats):
        log(line)
    if problems:
        raise LedgerError("ledger does not balance: " + "; ".join(problems))
    return manifest
