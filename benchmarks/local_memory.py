"""Memory and time of local runs (FnApiRunner, 2 worker processes) as the corpus grows.

The corpus: N documents of about 2 KB, each a seeded run of paragraphs from the
Debian documentation this machine has (``machine_text``: READMEs, NEWS,
changelogs; nobody on the team wrote them), with near-duplicates planted: every
10th document is an earlier one revised (``dedup_corpus.revise``, 5% of its
words touched) and every 50th an exact copy. Written once as 16 .jsonl.zst files.

Three runs on it, each in a fresh child process (the runner) with
``direct_num_workers=2, direct_running_mode=multi_processing`` (its workers):

- ``pass``: read → normalize → sink;
- ``dedup``: read → exact_dedup → minhash_dedup → sink;
- ``cpu_chain``: read → exact_dedup → minhash_dedup → language_id → heuristic_filters → sink.

For each: wall time, CPU time (runner and workers), and peak RSS of the runner,
of the workers (summed), and of all of them summed, sampled every 0.2 s.
``--by-stage`` also prints, per run, the fused stages during which memory peaked
(the runner names the stage it executes in a file the sampler reads; a
measuring aid that wraps a private FnApiRunner method).

    PYTHONPATH=. .venv/bin/python benchmarks/local_memory.py [--docs 100000] [--runs pass dedup cpu_chain] [--by-stage]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from dedup_corpus import revise, write_sharded_jsonl  # noqa: E402
from machine_text import doc_file_texts  # noqa: E402

DOC_BYTES = 2000
STAGES = {
    "pass": [],
    "dedup": [{"exact_dedup": {}}, {"minhash_dedup": {}}],
    "cpu_chain": [{"exact_dedup": {}}, {"minhash_dedup": {}}, {"language_id": {}}, {"heuristic_filters": {}}],
}


def paragraphs() -> list[str]:
    """Every paragraph of 80..1,500 characters in the machine's documentation, in walk order."""
    out = []
    for _, text in doc_file_texts():
        out += [p.strip() for p in text.split("\n\n") if 80 <= len(p.strip()) <= 1500]
    return out


def make_corpus(directory: str, docs: int, files: int = 16, seed: int = 0) -> int:
    rng = random.Random(seed)
    pool = paragraphs()
    vocabulary = [w for p in pool[:5000] for w in p.split()]

    def records():
        recent: list[str] = []
        for i in range(docs):
            if i % 50 == 49 and recent:
                text = rng.choice(recent)
            elif i % 10 == 9 and recent:
                text = revise(rng.choice(recent), 0.05, rng, vocabulary)
            else:
                parts, length = [], 0
                while length < DOC_BYTES:
                    parts.append(pool[rng.randrange(len(pool))])
                    length += len(parts[-1]) + 2
                text = "\n\n".join(parts)[: DOC_BYTES + 500]
                recent = (recent + [text])[-1000:]
            yield {"id": f"d{i:08d}", "text": text}

    return write_sharded_jsonl(directory, records(), files)


BETWEEN = "(between stages)"


def announce_stages(path: str) -> None:
    """Write the name of the fused stage FnApiRunner is executing to ``path`` (``BETWEEN`` after it).

    Wraps ``FnApiRunner._execute_bundle`` (private; a measuring aid only). The parent reads the
    file at each RSS sample: a sampler inside the runner would miss its peaks, which come while
    the runner holds the GIL. A stage is named by its first transform
    (``minhash_dedup/VerifyEdges/ByCenter/Read``).
    """
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    execute = fn_runner.FnApiRunner._execute_bundle

    def announce(name: str) -> None:
        with open(path + ".tmp", "w") as fh:
            fh.write(name)
        os.replace(path + ".tmp", path)

    def named(self, context, bundle_context, bundle_input):
        announce(bundle_context.stage.name.lstrip("(").split(")")[0])
        try:
            return execute(self, context, bundle_context, bundle_input)
        finally:
            announce(BETWEEN)

    fn_runner.FnApiRunner._execute_bundle = named


def run_one(corpus: str, run: str, out: str, stage_file: str | None = None) -> None:
    """The child: one corpusmill run; prints its CPU time as JSON on the last line."""
    from pipelines.config import config_from_dict
    from pipelines.run import run as corpusmill_run

    if stage_file:
        announce_stages(stage_file)

    raw = {"input": {"paths": [os.path.join(corpus, "*.jsonl.zst")]},
           "output": {"dir": out, "shard_rows": 50_000},
           "runner": {"name": "FnApiRunner",
                      "options": {"direct_num_workers": 2, "direct_running_mode": "multi_processing"}},
           "stages": STAGES[run]}
    manifest = corpusmill_run(config_from_dict(raw, os.getcwd()), [], log=lambda *_: None)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"runner_cpu": me.ru_utime + me.ru_stime, "workers_cpu": kids.ru_utime + kids.ru_stime,
                      "kept": manifest["totals"]["kept_rows"]}))


def measure(corpus: str, run: str, work: str, by_stage: bool = False) -> dict:
    """Run ``run`` in a child process, sampling RSS of it (the runner) and its descendants (the workers)."""
    stage_file = os.path.join(work, f"stage-{run}")
    argv = [sys.executable, os.path.abspath(__file__), "--child", run, "--corpus", corpus,
            "--out", os.path.join(work, f"out-{run}")] + (["--stage-file", stage_file] if by_stage else [])
    stages: dict[str, tuple[int, int, int]] = {}  # stage → peak (runner, workers, summed) while it ran
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": REPO})
    runner = psutil.Process(proc.pid)
    peak = {"runner": 0, "workers": 0, "total": 0}
    while proc.poll() is None:
        try:
            r = runner.memory_info().rss
            w = 0
            for child in runner.children(recursive=True):
                try:
                    w += child.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            break
        peak = {"runner": max(peak["runner"], r), "workers": max(peak["workers"], w), "total": max(peak["total"], r + w)}
        if by_stage:
            try:
                with open(stage_file) as fh:
                    stage = fh.read() or BETWEEN
            except OSError:
                stage = BETWEEN
            old = stages.get(stage, (0, 0, 0))
            stages[stage] = (max(old[0], r), max(old[1], w), max(old[2], r + w))
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{run} failed (rc {proc.returncode}):\n{stderr[-3000:]}")
    top = sorted(stages.items(), key=lambda kv: -kv[1][2])[:5]
    return {"wall": wall, **json.loads(stdout.strip().splitlines()[-1]), "stages": top,
            **{f"peak_{k}": v for k, v in peak.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--runs", nargs="+", choices=list(STAGES), default=list(STAGES))
    ap.add_argument("--child", choices=list(STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--stage-file", help=argparse.SUPPRESS)
    ap.add_argument("--by-stage", action="store_true", help="also print the stages where memory peaked")
    args = ap.parse_args()
    if args.child:
        run_one(args.corpus, args.child, args.out, args.stage_file)
        return
    gib = 2 ** 30
    with tempfile.TemporaryDirectory(prefix="local-memory-") as work:
        corpus = os.path.join(work, "corpus")
        os.makedirs(corpus)
        start = time.perf_counter()
        size = make_corpus(corpus, args.docs)
        print(f"{args.docs:,} documents, {size / 1e6:.0f} MB of JSONL (built in {time.perf_counter() - start:.0f} s); "
              f"{os.cpu_count()} cores, 2 workers (multi_processing), load average {os.getloadavg()[0]:.1f}\n")
        print("| run | wall s | CPU s runner | CPU s workers | kept | peak RSS runner GiB | peak RSS workers GiB | "
              "peak RSS summed GiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        stages = {}
        for run in args.runs:
            m = measure(corpus, run, work, args.by_stage)
            stages[run] = m["stages"]
            print(f"| {run} | {m['wall']:.1f} | {m['runner_cpu']:.1f} | {m['workers_cpu']:.1f} | {m['kept']:,} | "
                  f"{m['peak_runner'] / gib:.2f} | {m['peak_workers'] / gib:.2f} | {m['peak_total'] / gib:.2f} |",
                  flush=True)
        for run, top in stages.items() if args.by_stage else ():
            print(f"\n{run}: the stages where memory peaked (GiB: runner, workers, summed)")
            for stage, (runner, workers, total) in top:
                print(f"  {runner / gib:.2f} {workers / gib:.2f} {total / gib:.2f}  {stage}")


if __name__ == "__main__":
    main()
