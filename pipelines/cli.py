"""The ``corpusmill`` command line.

    corpusmill run CONFIG [--input GLOB ...] [--output DIR] [--set key.path=value ...] [--overwrite] [--resume] [-- BEAM OPTIONS]
    corpusmill validate CONFIG
    corpusmill inspect DIR
    corpusmill clusters DIR
    corpusmill models prepare [--name NAME] [--dest DIR] [--force]
    corpusmill prox run-program --stage {doc,chunk} --program FILE --input FILE
    corpusmill train-quality CONFIG
    corpusmill release RUN_DIR --name NAME --version X.Y.Z [--to DIR] [--tokenizer T]

Unknown options after ``run CONFIG`` (or everything after ``--``) go to Beam,
e.g. ``--runner DataflowRunner --project P --region R --temp_location gs://B/tmp``.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transforms.llm.engine_output import ENGINE_LOG_ENV  # noqa: E402  (imports nothing heavy)


class _QuietImportNoise(logging.Filter):
    """Beam warns about optional GCP client libraries at import time; not actionable locally."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


# On the root logger itself, not on handlers: Beam logs this on root when first
# imported, whenever that is. SDK worker processes get the same in pipelines.worker.
logging.getLogger().addFilter(_QuietImportNoise())


def quiet_loguru() -> None:
    """datatrove logs through loguru, whose default handler prints every INFO line to stderr
    ("Extracting url filter blacklists..."); keep its errors only."""
    try:
        from loguru import logger
    except ImportError:
        return
    logger.remove()
    logger.add(sys.stderr, level="ERROR")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corpusmill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and Beam logs")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline config")
    run.add_argument("config")
    run.add_argument("--input", nargs="+", help="input globs (replace the config's inputs)")
    run.add_argument("--output", help="output directory (replaces output.dir)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the dataset already in the output directory (only once the new one is complete)")
    run.add_argument("--resume", action="store_true",
                     help="one job per stage, outputs kept under OUT/_stages; a rerun skips finished stages")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    validate = sub.add_parser("validate", help="validate a config without running it")
    validate.add_argument("config")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    validate.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    inspect = sub.add_parser("inspect", help="rows, bytes, schema and ledger of a produced dataset")
    inspect.add_argument("dir")
    inspect.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
    inspect.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    clusters = sub.add_parser("clusters", help="the cluster catalogue of a cluster_select run, to choose exclusions")
    clusters.add_argument("dir")
    clusters.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    train = sub.add_parser("train-quality", help="train a DCLM-style fastText quality classifier")
    train.add_argument("config", help="YAML: positive, negative, output, held_out_fraction, seed, fasttext")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    models = sub.add_parser("models", help="local model files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    prepare = models_sub.add_parser("prepare", help="convert a bundled GGUF model to an HF directory (offline, once)")
    prepare.add_argument("--name", default="smollm2-135m-instruct")
    prepare.add_argument("--dest", help="output directory (default: NAME under $CORPUSMILL_MODELS, the checkout's "
                         "models/, or ~/.cache/corpusmill/models for an installed copy)")
    prepare.add_argument("--force", action="store_true", help="convert again even if already prepared")
    prepare.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    traps = sub.add_parser("traps", help="copyright traps: membership inference on a run's trap key")
    traps_sub = traps.add_subparsers(dest="traps_command", required=True)
    detect = traps_sub.add_parser("detect", help="ROC AUC per trap group: traps against controls, for a suspect model")
    detect.add_argument("--key", required=True, help="the run's traps/traps.jsonl (a local or gs:// path)")
    detect.add_argument("--model", required=True, help="the suspect: a prepared model name or directory, "
                        "or the model name on --base-url")
    detect.add_argument("--reference", help="the reference model (default: the key's, the one that measured the traps)")
    detect.add_argument("--kind", choices=["vllm", "openai"], default="vllm", help="backend for both models")
    detect.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="--kind openai: the server")
    detect.add_argument("--max-model-len", type=int, default=2048)
    detect.add_argument("--out", help="directory for detect.json and detect.png (default: beside the key)")
    detect.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    release = sub.add_parser("release", help="validate a finished run and cut an immutable versioned release")
    release.add_argument("run_dir")
    release.add_argument("--name", required=True)
    release.add_argument("--version", required=True, help="X.Y.Z; an existing version is never overwritten")
    release.add_argument("--to", help="directory of versions (default: RUN_DIR/../releases/NAME)")
    release.add_argument("--with-traps", action="store_true",
                         help="a private release that keeps the copyright-trap key (traps/); never publish it")
    release.add_argument("--tokenizer", help="bundled model name, tokenizer directory or tokenizer.json "
                         "(default: SmolLM2's, from `corpusmill models prepare`)")
    release.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    prox = sub.add_parser("prox", help="ProX refinement programs")
    prox_sub = prox.add_subparsers(dest="prox_command", required=True)
    run_program = prox_sub.add_parser("run-program", help="apply a program file to a text file; print the result")
    run_program.add_argument("--stage", choices=["doc", "chunk"], required=True)
    run_program.add_argument("--program", required=True)
    run_program.add_argument("--input", required=True)
    run_program.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _cmd_models(args, _beam_args) -> int:
    from transforms.llm.models import prepare_model

    print(prepare_model(args.name, args.dest, force=args.force))
    return 0


def _cmd_prox(args, _beam_args) -> int:
    from transforms.prox.cli import run_program

    return run_program(args.stage, args.program, args.input)


def _cmd_train_quality(args, _beam_args) -> int:
    import yaml
    from pydantic import ValidationError

    from pipelines.config import ConfigError, apply_override, describe_errors
    from transforms.quality.quality_training import TrainQualityConfig, train_quality_model

    with open(args.config, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    for assignment in args.set:
        apply_override(raw, assignment)
    raw["config_dir"] = os.path.dirname(os.path.abspath(args.config))
    try:
        cfg = TrainQualityConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{args.config}: " + "; ".join(describe_errors(exc.errors()))) from None
    train_quality_model(cfg)
    return 0


def _cmd_run(args, beam_args) -> int:
    from pipelines.config import load_config
    from pipelines.run import run

    cfg = load_config(args.config, args.set, args.input, args.output)
    run(cfg, beam_args, resume=args.resume, overwrite=args.overwrite)
    return 0


def _cmd_validate(args, _beam_args) -> int:
    from pipelines.config import load_config
    from pipelines.run import preflight, runner_name

    cfg = load_config(args.config, args.set)
    preflight(cfg, runner_name(cfg))
    from transforms.io.dataset_dir import dataset_entries

    names = ", ".join(e.label for e in cfg.stage_entries()) or "(none)"
    sources = "".join(f"{s.label} → " for s in cfg.sources)
    print(f"{args.config}: ok — {sources}normalize, {names} → {cfg.output.dir}")
    if dataset_entries(cfg.output.dir):
        print(f"note: {cfg.output.dir} already holds a dataset; `corpusmill run` needs --overwrite to replace it")
    return 0


def _cmd_traps(args, _beam_args) -> int:
    from transforms.llm.api import BackendConfig
    from transforms.traps.detect import detect_from_key
    from transforms.traps.disclosure import read_key_file

    reference = args.reference
    if reference is None:
        models = {row["reference"]["model"] for row in read_key_file(args.key) if row.get("reference")}
        if len(models) != 1:
            raise ValueError(f"{args.key}: the key names {len(models)} reference models; pass --reference")
        reference = models.pop()
    settings = {"kind": args.kind, "base_url": args.base_url, "max_model_len": args.max_model_len}
    detect_from_key(args.key, BackendConfig(model=args.model, **settings), BackendConfig(model=reference, **settings),
                    args.out)
    return 0


def _cmd_release(args, _beam_args) -> int:
    from pipelines.release import cut_release

    cut_release(args.run_dir, args.name, args.version, args.to, args.tokenizer, with_traps=args.with_traps)
    return 0


def _cmd_inspect(args, _beam_args) -> int:
    from pipelines.inspect import inspect_dataset

    print(inspect_dataset(args.dir, as_json=args.json))
    return 0


def _cmd_clusters(args, _beam_args) -> int:
    from pipelines.inspect import cluster_catalogues

    print(cluster_catalogues(args.dir))
    return 0


COMMANDS = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "inspect": _cmd_inspect,
    "clusters": _cmd_clusters,
    "traps": _cmd_traps,
    "train-quality": _cmd_train_quality,
    "models": _cmd_models,
    "prox": _cmd_prox,
    "release": _cmd_release,
}


_interrupted = False


def _interrupt(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1:]
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    beam_args = unknown + beam_args
    logging.basicConfig(level=logging.INFO if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.debug:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # per-page notes; outcomes say what happened
        quiet_loguru()
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # engine start-up chatter; --debug shows it
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar per worker
        # What model engines print (vLLM, torch, their child processes) goes to one file per run.
        os.environ.setdefault(ENGINE_LOG_ENV, os.path.join(tempfile.gettempdir(), f"corpusmill-engines-{os.getpid()}.log"))
    # SIGTERM (a scheduler, `kill`) ends the run like Ctrl-C, so exit handlers
    # run and stop model engines instead of leaving them behind.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return COMMANDS[args.command](args, beam_args)
    except KeyboardInterrupt:
        print("corpusmill: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line unless --debug
        if _interrupted:  # Beam re-raises the interrupt wrapped in its own error
            print("corpusmill: interrupted", file=sys.stderr)
            return 130
        if args.debug:
            raise
        message = str(exc) or type(exc).__name__
        print(f"corpusmill: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
