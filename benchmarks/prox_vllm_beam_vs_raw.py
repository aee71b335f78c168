"""vLLM generated tokens/s inside Beam (the prox stage, model writer) vs raw ``vllm.LLM.generate``.

Same prompts, same engine settings, side by side in one run:

- the prompts are the ProX chunk-level prompts (few-shot, SmolLM2's chat template)
  of Debian Reference sections that fit in one 1500-token chunk, so one document is
  one prompt and its program is the stage's ``chunk_program``;
- *raw*: one ``vllm.LLM`` built with ``vllm_engine_kwargs`` (exactly the backend's
  settings), greedy, ``max_tokens`` new tokens; timed around ``generate`` only, once
  with all prompts in one call and once in batches of ``--batch-size`` (the stage's
  batching);
- *Beam*: ``ProxStage(writer=model, doc_level=False)`` on FnApiRunner (one worker, in
  memory), which starts its own engine in the worker. Its generation time is the
  pipeline's wall time minus the engine's start and stop (logged by the backend), so
  Beam's own overhead (batching, prompt building, counters, outputs) counts against it;
  tokens come from the stage's ``llm_completion_tokens`` counter.

    PYTHONPATH=. .venv/bin/python benchmarks/prox_vllm_beam_vs_raw.py [--docs 32] [--max-tokens 64]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.support.quality_data import sample_records  # noqa: E402
from transforms.llm.models import prepare_model  # noqa: E402
from transforms.llm.vllm_engine import vllm_engine_kwargs  # noqa: E402
from transforms.prox import prompts  # noqa: E402

MAX_MODEL_LEN = 2048


class _EngineTimes(logging.Handler):
    """Engine start/stop seconds as logged by VLLMBackend (FnApiRunner in memory runs in this process)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def emit(self, record):
        m = re.search(r"(?:ready|stopped) in ([\d.]+) s", record.getMessage())
        if m:
            self.seconds.append(float(m.group(1)))


class _Collect:
    """Each document's chunk program, back to the driver (a module-level class: DoFns are pickled)."""

    programs: dict[str, str] = {}


def _collect_program(doc):
    _Collect.programs[doc["id"]] = json.loads(doc["provenance"][-1]["detail"]).get("chunk_program", "")


def one_chunk_docs(tokenizer, n: int) -> list[dict]:
    encode = lambda s: tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
    pool = [{"id": f"debref-{k}", "text": r["text"], "source": r["source"]}
            for k, r in enumerate(sample_records("debian-reference.jsonl.zst"))]
    pool.sort(key=lambda d: hashlib.sha1(d["id"].encode()).digest())
    out = []
    for d in pool:
        if len(prompts.chunk_texts(d["text"], encode, prompts.CHUNK_TOKENS)) == 1:
            out.append(d)
            if len(out) == n:
                break
    return out


def run_raw(model_dir, docs, max_tokens, batch_size):
    from vllm import LLM, SamplingParams

    t = time.monotonic()
    llm = LLM(**vllm_engine_kwargs(model_dir, max_model_len=MAX_MODEL_LEN))
    start_s = time.monotonic() - t
    tok = llm.get_tokenizer()
    encode = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    texts = [tok.apply_chat_template(prompts.chunk_messages(prompts.chunk_texts(d["text"], encode)[0], True),
                                     tokenize=False, add_generation_prompt=True) for d in docs]
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, seed=0)
    llm.generate(texts[:2], params, use_tqdm=False)  # warm-up, as the stage's first batch is not timed apart either
    runs = {}
    for label, size in (("all at once", len(texts)), (f"batches of {batch_size}", batch_size)):
        t = time.monotonic()
        outs = []
        for i in range(0, len(texts), size):
            outs += llm.generate(texts[i:i + size], params, use_tqdm=False)
        runs[label] = (time.monotonic() - t, sum(len(o.outputs[0].token_ids) for o in outs),
                       [o.outputs[0].text for o in outs])
    llm.llm_engine.engine_core.shutdown()
    return start_s, runs


def run_beam(model_dir, docs, max_tokens, batch_size):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.prox.prox_stage import ProxConfig, ProxStage

    cfg = ProxConfig(writer="model", doc_level=False, chunk_max_new_tokens=max_tokens, batch_size=batch_size,
                     backend={"model": model_dir, "max_model_len": MAX_MODEL_LEN})
    times = _EngineTimes()
    logging.getLogger("transforms.llm.vllm_engine").addHandler(times)
    logging.getLogger("transforms.llm.vllm_engine").setLevel(logging.INFO)
    _Collect.programs = {}
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
    t = time.monotonic()
    p = beam.Pipeline(options=options)
    res = p | beam.Create(docs, reshuffle=False) | ProxStage("prox", cfg)
    _ = (res.kept, res.dropped) | beam.Flatten() | beam.Map(_collect_program)
    result = p.run()
    result.wait_until_finish()
    wall = time.monotonic() - t
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
    return wall, times.seconds, counters, dict(_Collect.programs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    model_dir = str(prepare_model())
    from transformers import AutoTokenizer

    docs = one_chunk_docs(AutoTokenizer.from_pretrained(model_dir), args.docs)
    print(f"{len(docs)} prompts (ProX chunk prompts of one-chunk Debian Reference sections), greedy, "
          f"max_tokens {args.max_tokens}, SmolLM2-135M-Instruct fp32, {os.cpu_count()} cores")

    raw_start, raw = run_raw(model_dir, docs, args.max_tokens, args.batch_size)
    print(f"raw vllm.LLM: engine start {raw_start:.1f} s")
    for label, (secs, tokens, _) in raw.items():
        print(f"  raw generate, {label:14s}: {tokens} tokens in {secs:6.1f} s = {tokens / secs:6.1f} tok/s")

    wall, engine_s, counters, programs = run_beam(model_dir, docs, args.max_tokens, args.batch_size)
    gen_s = wall - sum(engine_s)
    tokens = counters.get("llm_completion_tokens", 0)
    print(f"Beam prox stage: pipeline wall {wall:.1f} s, engine start+stop {sum(engine_s):.1f} s, "
          f"{counters.get('llm_requests', 0)} requests")
    print(f"  Beam, batches of {args.batch_size:<4d}   : {tokens} tokens in {gen_s:6.1f} s = {tokens / gen_s:6.1f} tok/s")
    for label, (secs, raw_tokens, _texts) in raw.items():
        print(f"Beam / raw ({label}): {(tokens / gen_s) / (raw_tokens / secs):.1%}")
    same = sum(programs.get(d["id"]) == t for d, t in zip(docs, raw[f"batches of {args.batch_size}"][2]))
    print(f"identical programs, Beam vs raw batches: {same}/{len(docs)}")


if __name__ == "__main__":
    main()
