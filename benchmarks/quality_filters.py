"""docs/s per core: language_id + heuristic_filters in our Beam pipeline vs datatrove's LocalPipelineExecutor.

Same documents, same filters and parameters (datatrove defaults:
LanguageFilter en > 0.65 with the same lid.176.ftz, GopherRepetition,
GopherQuality, C4Quality, FineWebQuality), one core each, one after the other
in this process. Documents: the bundled sample (Python docs, Shakespeare,
licenses, fortunes, sonnets, Debian Reference in 7 languages; 1,992 docs,
mean 4.9 KB) or ``--source usr-share-doc``: ~40k documents (mean 2.2 KB) cut
at blank lines from this machine's /usr/share/doc (benchmarks/machine_text.py).

Each side reads the same JSONL file with its own reader (Beam's
ReadFromText, datatrove's JsonlReader), as a real run would; model loading is
inside both timings. (``beam.Create`` is not used: on the in-process runner
it costs ~1.8 ms per 5 KB document to get them into the pipeline, more than
the filters.) Every decision of ours is compared with datatrove's. Both wall
time and this process's CPU time are shown: on a shared machine the CPU
seconds are the fair "per core" figure (wall time includes waiting for a core).

    PYTHONPATH=. .venv/bin/python benchmarks/quality_filters.py [--docs 2000] [--source sample|usr-share-doc]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # machine_text (a `benchmarks` package in the venv shadows ours)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from tests.support.quality_data import mixed_texts  # noqa: E402
from transforms.core.runner import ApplyDocStage  # noqa: E402
from transforms.quality.datatrove_reference import datatrove_chain, run_datatrove  # noqa: E402
from transforms.quality.heuristic_filters import FILTERS, HeuristicFilters  # noqa: E402
from transforms.quality.language_id import LanguageId, default_model_path  # noqa: E402


def sample_documents(n: int) -> list[tuple[str, str]]:
    pool = mixed_texts(per_source=10_000)
    pool.sort(key=lambda p: hashlib.sha1(p[0].encode()).digest())  # interleave the sources, deterministically
    return pool[:n]


def machine_documents(n: int, min_chars: int = 1500) -> list[tuple[str, str]]:
    """Documents of >= ``min_chars`` cut from /usr/share/doc files at blank lines; exact duplicates removed."""
    from machine_text import doc_file_texts

    docs = set()
    for _, text in doc_file_texts():
        current: list[str] = []
        for paragraph in re.split(r"\n\s*\n", text):
            current.append(paragraph)
            if sum(map(len, current)) >= min_chars:
                docs.add("\n\n".join(current).strip())
                current = []
    chosen = sorted(docs, key=lambda d: hashlib.blake2b(d.encode()).digest())[:n]
    return [(f"usr-share-doc-{i}", d) for i, d in enumerate(chosen)]


def _reason(reject: dict) -> str:
    """Our reasons are ``<filter>:<rule>`` for heuristics; datatrove's chain names the step first."""
    if reject["stage"] == "language_id":
        return f"language_id:{reject['reason']}"
    return reject["reason"]


def write_jsonl(texts, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for doc_id, text in texts:
            fh.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")


def run_beam(jsonl: str, out_dir: str) -> tuple[float, float]:
    filters = {k: {} for k in FILTERS}
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
    start, cpu = time.perf_counter(), time.process_time()
    with beam.Pipeline(options=options) as p:
        docs = p | beam.io.ReadFromText(jsonl) | "Parse" >> beam.Map(json.loads)
        lid = docs | "language_id" >> ApplyDocStage("language_id", LanguageId(languages=["en"]))
        heur = lid.kept | "heuristic_filters" >> ApplyDocStage("heuristic_filters", HeuristicFilters("heuristic_filters", filters))
        decisions = (
            (lid.dropped, heur.dropped) | "Rejected" >> beam.Flatten()
            | "Why" >> beam.Map(lambda d: [d["id"], "dropped", _reason(d["_reject"])])
        ), heur.kept | "Kept" >> beam.Map(lambda d: [d["id"], "kept", d["text"]])
        _ = decisions | beam.Flatten() | beam.Map(json.dumps) | beam.io.WriteToText(out_dir + "/decisions", shard_name_template="")
    return time.perf_counter() - start, time.process_time() - cpu


def _import_libraries() -> None:
    """Import spaCy, datatrove's filters and fastText before either timing, so the
    first-timed side does not pay the interpreter's module imports for both."""
    import fasttext  # noqa: F401
    import spacy.lang.en  # noqa: F401
    from datatrove.executor import LocalPipelineExecutor  # noqa: F401
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter  # noqa: F401
    from datatrove.utils.japanese_tokenizer import JapaneseTokenizer  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--source", choices=["sample", "usr-share-doc"], default="sample",
                        help="the bundled sample (1,992 docs: 7 languages, prose, code docs, plays) or "
                             "documents cut from this machine's /usr/share/doc (tens of thousands, English)")
    args = parser.parse_args()
    texts = sample_documents(args.docs) if args.source == "sample" else machine_documents(args.docs)
    mb = sum(len(t.encode()) for _, t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.2f} MB, mean {mb * 1e6 / len(texts):,.0f} bytes; 1 core each (cpu count {os.cpu_count()})")

    _import_libraries()
    from datatrove.pipeline.readers import JsonlReader

    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(tmp + "/input")
        write_jsonl(texts, tmp + "/input/docs.jsonl")
        beam_s, beam_cpu = run_beam(tmp + "/input/docs.jsonl", tmp)
        with open(tmp + "/decisions") as fh:
            ours = {r[0]: tuple(r[1:]) for r in map(json.loads, fh)}

        steps = datatrove_chain(["en"], 0.65, default_model_path(), {k: {} for k in FILTERS})
        start, cpu = time.perf_counter(), time.process_time()
        reference = run_datatrove(texts, steps, reader=JsonlReader(tmp + "/input"))
        dt_s, dt_cpu = time.perf_counter() - start, time.process_time() - cpu

    same = 0
    for doc_id, (outcome, detail, *_lang) in reference.items():
        mine = ours[doc_id]
        if detail.startswith("language_id:"):
            same += mine[0] == outcome and mine[1].startswith("language_id:")
        else:
            same += mine == (outcome, detail)
    n = len(texts)
    print(f"{'':34}{'wall s':>9}{'docs/s':>9}{'CPU s':>9}{'docs/CPU-s':>12}")
    print(f"{'datatrove LocalPipelineExecutor':34}{dt_s:9.1f}{n / dt_s:9.1f}{dt_cpu:9.1f}{n / dt_cpu:12.1f}")
    print(f"{'corpusmill Beam (FnApiRunner)':34}{beam_s:9.1f}{n / beam_s:9.1f}{beam_cpu:9.1f}{n / beam_cpu:12.1f}")
    print(f"speedup: wall {dt_s / beam_s:.2f}x, CPU {dt_cpu / beam_cpu:.2f}x; "
          f"identical decisions {same}/{n} ({100 * same / n:.1f}%)")


if __name__ == "__main__":
    main()
