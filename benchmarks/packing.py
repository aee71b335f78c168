"""Tokens per CPU-second: tokenize + Dataset Decomposition against tokenize + concat-and-chunk, side by side.

Two measurements on the same documents, in this one run:

1. *In process, one core* (``RAYON_NUM_THREADS=1``, so the tokenizers library
   uses one thread): the packing writer's own pieces, batch-encoding with the
   ``tokenizers`` library, then ``decompose`` or ``concat_chunks`` and building
   the Arrow tables that the shards are written from. Tokenizing is shown alone
   too: it is most of the cost.
2. *In Beam* (``corpusmill run``, FnApiRunner, one worker, stages: []): a run
   with ``output.packing`` decompose, one with concat, and one without packing;
   the packing cost is the difference to the run without it.

Documents: the bundled sample (``--source sample``) or whole documentation files from
this machine's /usr/share/doc (``--source usr-share-doc``, real length spread).

    PYTHONPATH=. .venv/bin/python benchmarks/packing.py [--source usr-share-doc] [--docs 4000]
"""
from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers is imported: one core
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # machine_text, dedup_corpus

import numpy as np  # noqa: E402

from transforms.packing.decompose import concat_chunks, decompose  # noqa: E402
from transforms.packing.tokens import DocumentEncoder, resolve_tokenizer  # noqa: E402
from transforms.packing.write_sequences import _ids_array  # noqa: E402

BATCH = 256


def documents(source: str, n: int) -> list[str]:
    if source == "sample":
        from dedup_corpus import sample_documents

        return sample_documents()[:n]
    from machine_text import doc_file_texts

    out = []
    for _, text in doc_file_texts():
        if text.strip():
            out.append(text)
        if len(out) == n:
            break
    return out


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def encode_all(encoder: DocumentEncoder, texts: list[str]) -> list[np.ndarray]:
    return [ids for i in range(0, len(texts), BATCH) for ids in encoder.encode(texts[i:i + BATCH])]


def decompose_tables(ids: list[np.ndarray], min_log2: int, max_log2: int) -> int:
    buckets: dict[int, list[np.ndarray]] = {}
    for doc in ids:
        pieces, _ = decompose(len(doc), min_log2, max_log2)
        for p in pieces:
            buckets.setdefault(p.log2, []).append(doc[p.start:p.start + p.length])
    return sum(len(_ids_array(chunks)) for chunks in buckets.values())


def concat_tables(ids: list[np.ndarray], seq_len: int) -> int:
    sequences, _ = concat_chunks([len(a) for a in ids], seq_len)
    chunks = [np.concatenate([ids[d][s:s + t] for d, s, t in parts]) for parts in sequences]
    return len(_ids_array(chunks))


def timed(fn, *args):
    c0, t0 = cpu_seconds(), time.perf_counter()
    result = fn(*args)
    return result, cpu_seconds() - c0, time.perf_counter() - t0


def in_process(texts: list[str], tokenizer, seq_len: int) -> None:
    encoder = DocumentEncoder(tokenizer)
    encode_all(encoder, texts[:BATCH])  # warm up
    ids, enc_cpu, enc_wall = timed(encode_all, encoder, texts)
    tokens = sum(len(a) for a in ids)
    rows = [("tokenize alone", enc_cpu, enc_wall)]
    for name, fn, args in (("tokenize + decompose (8..13)", decompose_tables, (ids, 8, 13)),
                           (f"tokenize + concat ({seq_len})", concat_tables, (ids, seq_len))):
        _, cpu, wall = timed(fn, *args)
        rows.append((name, enc_cpu + cpu, enc_wall + wall))
    print(f"\nin process, one core: {len(texts):,} documents, {tokens:,} tokens")
    print(f"{'':32s} {'CPU s':>8s} {'tokens/CPU-s':>14s}")
    for name, cpu, _ in rows:
        print(f"{name:32s} {cpu:8.2f} {tokens / cpu:14,.0f}")
    print(f"decompose / concat: {rows[2][1] / rows[1][1]:.2f}x the speed")


def beam_runs(texts: list[str], seq_len: int) -> None:
    from pipelines.config import config_from_dict
    from pipelines.run import run

    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "docs.jsonl")
        with open(corpus, "w") as fh:
            for i, text in enumerate(texts):
                fh.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
        modes = [("no packing (baseline run)", None),
                 ("decompose (8..13)", {"mode": "decompose"}),
                 (f"concat ({seq_len})", {"mode": "concat", "seq_len": seq_len})]
        results = []
        for name, packing in modes:
            out = os.path.join(tmp, name.split()[0])
            raw = {"input": {"paths": [corpus]}, "output": {"dir": out, "packing": packing}, "stages": []}
            cfg = config_from_dict(raw, tmp)
            if packing:
                from transforms.packing.tokens import tokenizer_for

                tokenizer_for(cfg.output.packing)  # resolved before timing, as preflight does
            c0, t0 = cpu_seconds(), time.perf_counter()
            manifest = run(cfg, [], log=lambda *_: None)
            results.append((name, cpu_seconds() - c0, time.perf_counter() - t0, manifest.get("packing")))
    tokens = results[1][3]["tokens"]
    print(f"\nin Beam (FnApiRunner, one worker): {len(texts):,} documents, {tokens:,} tokens")
    print(f"{'':28s} {'wall s':>8s} {'CPU s':>8s} {'packing CPU s':>14s} {'tokens/CPU-s (packing)':>24s}")
    base_cpu = results[0][1]
    for name, cpu, wall, section in results:
        extra = cpu - base_cpu
        rate = f"{tokens / extra:24,.0f}" if section and extra > 0 else f"{'':>24s}"
        print(f"{name:28s} {wall:8.1f} {cpu:8.1f} {extra if section else 0:14.1f} {rate}")
        if section and section["mode"] == "decompose":
            print(f"{'':28s} buckets: " + ", ".join(f"{b['seq_len']}: {b['tokens']:,}" for b in section["buckets"])
                  + f"; dropped {section['tokens_dropped']:,}")
        elif section:
            print(f"{'':28s} {section['sequences']:,} sequences; dropped {section['tokens_dropped']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", choices=["sample", "usr-share-doc"], default="sample")
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--skip-beam", action="store_true")
    args = parser.parse_args()
    texts = documents(args.source, args.docs)
    tokenizer = resolve_tokenizer(None, True, None)
    print(f"tokenizer {tokenizer.name} (sha256 {tokenizer.sha256[:12]}…); {len(texts):,} documents from {args.source}, "
          f"mean {np.mean([len(t) for t in texts]):,.0f} chars; cpu count {os.cpu_count()}")
    in_process(texts, tokenizer, args.seq_len)
    if not args.skip_beam:
        beam_runs(texts, args.seq_len)


if __name__ == "__main__":
    main()
