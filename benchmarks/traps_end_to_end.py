"""Copyright traps end to end: trap a corpus, fine-tune SmolLM2-135M on it on CPU, detect.

Does the copyright-traps feature work? The paper's experiment (Meeus et al.,
2024), scaled to 2 CPU cores:

1. **Corpus.** Host documents of about 1.2 KB cut at paragraph boundaries from the
   Debian documentation this machine has (``machine_text``; nobody on the team
   wrote it), as many as fill the training budget once the traps' own tokens are
   counted. ``corpusmill run`` puts the traps in (``copyright_traps``: every
   length × repetitions group, with controls) and writes the shards and the key.
2. **Fine-tune** the prepared SmolLM2-135M (``corpusmill models prepare``) on the
   trapped shards for one epoch, with a plain torch loop in fp32 (AdamW, linear
   warm-up and decay): documents joined with EOS, cut into ``--seq-len`` blocks,
   shuffled. One epoch, so a trap of ``repetitions`` r is seen r times. The model
   and the original's tokenizer are saved where the vLLM backend loads them.
3. **Detect** with ``corpusmill traps detect``: the fine-tuned model against the
   original as reference, and the original against itself (the untrained model,
   which must show nothing).
4. **Report** the ROC AUC per group and signal, fine-tuned next to untrained, how
   many times each group's traps were seen, and the wall time of each step.

A benchmark, not a test: about 32 minutes on 2 cores with the defaults (25 of
them the fine-tune). Run it in the background with its output in a log:

    PYTHONPATH=. .venv/bin/python benchmarks/traps_end_to_end.py --work /tmp/traps-e2e > /tmp/traps-e2e.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from machine_text import doc_file_texts  # noqa: E402

MODEL = "smollm2-135m-instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")
HOST_CHARS = 1200


def corpusmill(*args: str) -> subprocess.CompletedProcess:
    """The installed CLI of this environment, output passed through."""
    exe = os.path.join(os.path.dirname(sys.executable), "corpusmill")
    command = [exe, *args] if os.path.exists(exe) else [sys.executable, "-m", "pipelines.cli", *args]
    return subprocess.run(command, check=True)


def host_documents(tokenizer, token_budget: int, seed: int) -> list[dict]:
    """Documents of up to ``HOST_CHARS`` characters (whole paragraphs), shuffled, until ``token_budget`` tokens."""
    pieces: list[str] = []
    for _, text in doc_file_texts():
        piece = ""
        for paragraph in (p.strip() for p in text.split("\n\n")):
            if not 80 <= len(paragraph) <= HOST_CHARS:
                continue
            if piece and len(piece) + len(paragraph) > HOST_CHARS:
                pieces.append(piece)
                piece = ""
            piece = f"{piece}\n\n{paragraph}" if piece else paragraph
        if len(piece) >= 400:
            pieces.append(piece)
    pieces = sorted(set(pieces))
    random.Random(seed).shuffle(pieces)
    docs, tokens = [], 0
    for i, text in enumerate(pieces):
        if tokens >= token_budget:
            break
        tokens += len(tokenizer.encode(text).ids) + 1
        docs.append({"id": f"debian-doc-{i:05d}", "text": text, "source": "debian-docs"})
    if tokens < token_budget:
        raise SystemExit(f"the machine's documentation gives only {tokens:,} of {token_budget:,} host tokens")
    return docs


def write_config(work: str, args) -> str:
    import yaml

    config = {
        "input": [{"paths": [os.path.join(work, "hosts.jsonl")], "format": "jsonl"}],
        "output": {"dir": os.path.join(work, "run"), "shard_rows": 1000},
        "runner": {"name": "FnApiRunner"},
        "seed": args.seed,
        "stages": [{"copyright_traps": {
            "generator": {"kind": "vllm", "model": MODEL},
            "lengths": args.lengths, "repetitions": args.repetitions,
            "per_group": args.per_group, "controls_per_group": args.controls_per_group}}],
    }
    path = os.path.join(work, "traps-e2e.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return path


def trained_blocks(run_dir: str, tokenizer, seq_len: int, seed: int) -> list[list[int]]:
    """The run's kept documents in id order, joined with EOS and cut into ``seq_len`` blocks, shuffled."""
    import pyarrow.dataset as ds

    table = ds.dataset(os.path.join(run_dir, "data"), format="parquet").to_table(columns=["id", "text"])
    rows = sorted(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    eos = tokenizer.token_to_id("<|endoftext|>")
    stream: list[int] = []
    for _, text in rows:
        stream += tokenizer.encode(text).ids + [eos]
    blocks = [stream[i:i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]
    random.Random(seed).shuffle(blocks)
    return blocks


def exposures(key: list[dict], blocks_text: str) -> dict[str, int]:
    """Per group: how many times its traps occur in the text that was trained on (whole occurrences)."""
    seen: dict[str, int] = {}
    for row in key:
        if row["repetitions"] and not row.get("withdrawn"):
            seen[row["group"]] = seen.get(row["group"], 0) + blocks_text.count(row["text"])
    return seen


def fine_tune(blocks: list[list[int]], out_dir: str, args, log) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from transforms.llm.models import model_path

    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    source = str(model_path(MODEL))
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    model.train()
    steps = math.ceil(len(blocks) / args.batch)
    warmup = max(1, steps // 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    log(f"fine-tune: {len(blocks)} blocks of {args.seq_len} tokens, {steps} steps of {args.batch}, lr {args.lr}")
    losses, start = [], time.monotonic()
    for step in range(steps):
        batch = torch.tensor(blocks[step * args.batch:(step + 1) * args.batch])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 10 == 0 or step == steps - 1:
            log(f"  step {step + 1}/{steps} loss {losses[-1]:.3f} ({time.monotonic() - start:.0f} s)")
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(source, name)):
            shutil.copy(os.path.join(source, name), out_dir)
    return {"steps": steps, "tokens": len(blocks) * args.seq_len, "first_loss": losses[0],
            "last_loss": sum(losses[-5:]) / len(losses[-5:])}


def side_by_side(trained: dict, untrained: dict, seen: dict[str, int]) -> str:
    signals = trained["signals"]
    head = "| group | traps | controls | times seen | " + " | ".join(
        f"{s} fine-tuned | {s} untrained" for s in signals) + " |"
    lines = [head, "|---|---:|---:|---:|" + "---:|---:|" * len(signals)]
    before = {g["group"]: g for g in untrained["groups"]}
    for g in trained["groups"]:
        cells = []
        for s in signals:
            for value in (g["auc"][s], before[g["group"]]["auc"][s]):
                cells.append("—" if value is None else f"{value:.3f}")
        times = seen.get(g["group"], sum(seen.values()) if g["group"] == "all" else 0)
        lines.append(f"| {g['group']} | {g['n_traps']} | {g['n_controls']} | {times:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="/tmp/traps-e2e", help="a new directory for the corpus, run and models")
    parser.add_argument("--lengths", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument("--repetitions", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--per-group", type=int, default=4)
    parser.add_argument("--controls-per-group", type=int, default=12)
    parser.add_argument("--train-tokens", type=int, default=180_000, help="one epoch of the trapped corpus")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.path.exists(args.work):
        raise SystemExit(f"{args.work} exists; give a new --work directory")
    os.makedirs(args.work)
    from tokenizers import Tokenizer

    from transforms.llm.models import model_path

    tokenizer = Tokenizer.from_file(str(model_path(MODEL) / "tokenizer.json"))
    walls: dict[str, float] = {}

    def log(message: str) -> None:
        print(message, flush=True)

    t = time.monotonic()
    trap_tokens = sum(args.per_group * r * n for r in args.repetitions for n in args.lengths)
    docs = host_documents(tokenizer, args.train_tokens - trap_tokens, args.seed)
    with open(os.path.join(args.work, "hosts.jsonl"), "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    log(f"corpus: {len(docs)} host documents (~{args.train_tokens - trap_tokens:,} tokens) "
        f"+ ~{trap_tokens:,} trap tokens")
    corpusmill("run", write_config(args.work, args))
    walls["trap the corpus (corpusmill run)"] = time.monotonic() - t
    run_dir = os.path.join(args.work, "run")
    key_path = os.path.join(run_dir, "traps", "traps.jsonl")
    with open(key_path, encoding="utf-8") as fh:
        key = [json.loads(line) for line in fh]

    t = time.monotonic()
    blocks = trained_blocks(run_dir, tokenizer, args.seq_len, args.seed)
    seen = exposures(key, "\n".join(tokenizer.decode(b) for b in blocks))
    tuned = os.path.join(args.work, "smollm2-traps-ft")
    training = fine_tune(blocks, tuned, args, log)
    walls["fine-tune (torch, fp32, CPU)"] = time.monotonic() - t
    log(f"trained {training['tokens']:,} tokens in {training['steps']} steps; loss {training['first_loss']:.3f} → "
        f"{training['last_loss']:.3f}; whole trap occurrences seen per group: {seen}")

    results = {}
    for name, model in (("fine-tuned", tuned), ("untrained", MODEL)):
        t = time.monotonic()
        out = os.path.join(args.work, f"detect-{name}")
        corpusmill("traps", "detect", "--key", key_path, "--model", model, "--reference", MODEL, "--out", out)
        walls[f"detect, {name} vs original"] = time.monotonic() - t
        with open(os.path.join(out, "detect.json"), encoding="utf-8") as fh:
            results[name] = json.load(fh)

    trap_sum = sum(seen.values())
    log(f"\n## {args.work}: lengths {args.lengths}, repetitions {args.repetitions}, per group {args.per_group} "
        f"traps / {args.controls_per_group} controls; {training['tokens']:,} tokens trained "
        f"({trap_sum:,} trap occurrences seen)\n")
    log(side_by_side(results["fine-tuned"], results["untrained"], seen))
    log("\n| step | wall s |\n|---|---:|")
    for step, wall in walls.items():
        log(f"| {step} | {wall:.0f} |")
    with open(os.path.join(args.work, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump({"args": vars(args), "training": training, "seen": seen, "walls": walls,
                   "detect": {k: v["groups"] for k, v in results.items()}}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
