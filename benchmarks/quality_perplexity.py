"""perplexity_filter throughput and distribution on the bundled sample (SmolLM2-135M on vLLM).

Scores the English documents of the sample with the stage's own scorer
(``PerplexityScorer``: truncate to ``--max-tokens`` with the model's tokenizer,
one ``score()`` call per batch) outside Beam, so the figure is the model's
cost, and prints docs/s, scored tokens/s and the perplexity distribution per
source. The same scorer inside Beam: ``corpusmill run configs/quality.yaml``,
whose report plots the distribution (out/quality/report/perplexity.png).

    PYTHONPATH=. .venv/bin/python benchmarks/quality_perplexity.py [--docs 200] [--max-tokens 256]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.quality_data import sample_records  # noqa: E402
from transforms.llm.api import BackendConfig  # noqa: E402
from transforms.llm.models import prepare_model  # noqa: E402
from transforms.quality.perplexity_filter import PerplexityScorer, make_backend_factory  # noqa: E402


def english_docs(n: int) -> list[dict]:
    docs = []
    for name in ("python-docs.jsonl.zst", "shakespeare.jsonl.zst", "licenses.jsonl.zst"):
        docs += [{"id": f"{name}:{i}", "text": r["text"], "source": name.split(".")[0]}
                 for i, r in enumerate(sample_records(name)[: n // 3 + 1])]
    return docs[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    model = str(prepare_model())
    docs = english_docs(args.docs)
    factory = make_backend_factory(BackendConfig(model=model, max_model_len=1024), None)
    scorer = PerplexityScorer("perplexity_filter", factory, max_tokens=args.max_tokens, batch_size=args.batch_size)
    start = time.perf_counter()
    scorer.setup()
    engine_s = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    outcomes = []
    for i in range(0, len(docs), args.batch_size):
        outcomes += scorer.process_batch(docs[i : i + args.batch_size])
    seconds = time.perf_counter() - start
    scorer.teardown()
    scored = [o.doc for o in outcomes if o.doc.get("perplexity") is not None]
    print(f"{len(docs)} English sample documents, first {args.max_tokens} tokens each, batches of {args.batch_size}; "
          f"SmolLM2-135M-Instruct fp32 on vLLM ({os.cpu_count()} cores); engine start {engine_s:.1f} s")
    print(f"scored {len(scored)}/{len(docs)} in {seconds:.1f} s wall = {len(scored) / seconds:.2f} docs/s "
          f"(this process's CPU {time.process_time() - cpu:.1f} s; the engine runs in its own processes)")
    by_source = defaultdict(list)
    for doc in scored:
        by_source[doc["source"]].append(doc["perplexity"])
    everything = sorted(p for ps in by_source.values() for p in ps)
    deciles = [everything[min(len(everything) - 1, int(q * len(everything) / 10))] for q in range(11)]
    print("perplexity deciles (all):", ", ".join(f"{d:.1f}" for d in deciles))
    for source, ps in sorted(by_source.items()):
        print(f"  {source:<12} n={len(ps):>3}  median {statistics.median(ps):8.1f}  min {min(ps):8.1f}  max {max(ps):8.1f}")


if __name__ == "__main__":
    main()
