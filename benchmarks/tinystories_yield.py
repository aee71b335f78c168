"""TinyStories yield under over-generation: the share of prompts that yield a kept story at n candidates.

Runs the ``tinystories`` source alone (the settings of ``configs/tinystories.yaml``'s
input, with ``count`` and ``candidates`` replaced) inside Beam on FnApiRunner,
one worker, for each n in ``--candidates``, on the same prompts. One engine is
started first and held, so every n runs on it and its start is reported apart.
Prints, per n:

- prompts that yield a kept story (count and share);
- tokens generated over all candidates, and per kept story;
- wall time of the run (engine start excluded) and the drop reasons.

    PYTHONPATH=. python benchmarks/tinystories_yield.py [--prompts 32] [--candidates 1 4 8] [--seed 1]

Use a seed other than the config's to measure on prompts the config was not chosen on.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import apache_beam as beam  # noqa: E402
import yaml  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from transforms.llm.api import BackendConfig  # noqa: E402
from transforms.llm.backends import make_backend  # noqa: E402
from transforms.synthetic.tinystories.source import TinyStoriesConfig, TinyStoriesSource  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "tinystories.yaml"


def run_once(cfg: TinyStoriesConfig) -> tuple[float, dict]:
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
    start = time.monotonic()
    p = beam.Pipeline(options=options)
    out = p | TinyStoriesSource("tinystories", cfg, str(CONFIG.parent), 0)
    _ = out.kept | "CountKept" >> beam.combiners.Count.Globally()
    result = p.run()
    result.wait_until_finish()
    wall = time.monotonic() - start
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
    return wall, counters


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--candidates", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--seed", type=int, default=1, help="prompt and sampling seed (the config uses 0)")
    ap.add_argument("--max-tokens", type=int, default=None, help="default: the config's")
    args = ap.parse_args()

    base = yaml.safe_load(CONFIG.read_text())["input"][0]
    base.update(count=args.prompts, seed=args.seed)
    if args.max_tokens:
        base["max_tokens"] = args.max_tokens
    base.pop("judge", None)  # the yield of the checks; a judge only chooses among passing candidates
    generator = BackendConfig(**base["generator"])
    start = time.monotonic()
    held = make_backend(generator, str(CONFIG.parent), args.seed)  # every run below shares this engine
    print(f"engine start {time.monotonic() - start:.0f} s (not in the walls below)")
    print(f"{args.prompts} prompts (seed {args.seed}), max_tokens {base['max_tokens']}, "
          f"T={base.get('temperature')}, top_p={base.get('top_p')}, batch {base.get('batch_size')}, "
          f"{generator.model} on {os.cpu_count()} cores; checks and judge as in {CONFIG.name} (judge off)")
    print("| candidates n | prompts yielding a story | tokens generated | tokens per kept story | wall s | "
          "drop reasons |")
    print("|---:|---:|---:|---:|---:|---|")
    try:
        for n in args.candidates:
            cfg = TinyStoriesConfig(**{**base, "candidates": n})
            wall, counters = run_once(cfg)
            kept = counters.get("kept", 0)
            tokens = counters.get("llm_completion_tokens", 0)
            reasons = sorted(((k.split(":", 1)[1], v) for k, v in counters.items() if k.startswith("dropped:")),
                             key=lambda kv: -kv[1])
            per_kept = f"{tokens / kept:,.0f}" if kept else "n/a"
            print(f"| {n} | {kept}/{args.prompts} = {kept / args.prompts:.0%} | {tokens:,} | {per_kept} | "
                  f"{wall:.0f} | {', '.join(f'{r} ({c})' for r, c in reasons) or '-'} |", flush=True)
    finally:
        held.close()


if __name__ == "__main__":
    main()
