"""Beam metrics and local progress for model calls: requests, tokens in/out, failures, latency, tokens/s.

Generation sources call ``record`` after every backend call; counters land in
the run's manifest, and a throttled line per worker shows throughput on local runs.
"""
from __future__ import annotations

import time

from apache_beam.metrics import Metrics

_PRINT_EVERY_S = 10.0


class LLMMetrics:
    def __init__(self, label: str):
        ns = f"corpusmill.{label}"
        self.label = label
        self.requests = Metrics.counter(ns, "llm_requests")
        self.tokens_in = Metrics.counter(ns, "llm_prompt_tokens")
        self.tokens_out = Metrics.counter(ns, "llm_completion_tokens")
        self.failures = Metrics.counter(ns, "llm_failures")
        self.latency_ms = Metrics.distribution(ns, "llm_batch_latency_ms")
        self._out_total = 0
        self._busy_s = 0.0
        self._last_print = time.monotonic()

    def record(self, gens, seconds: float) -> None:
        """One backend call that returned ``gens`` (one Generation per prompt)."""
        self._add(len(gens), sum(g.prompt_tokens for g in gens), sum(g.completion_tokens for g in gens),
                  sum(1 for g in gens if g.error), seconds)

    def record_samples(self, samples, seconds: float) -> None:
        """One ``sample`` call: a list of candidates per prompt; the prompt is counted (and prefilled) once."""
        self._add(len(samples), sum(c[0].prompt_tokens for c in samples if c),
                  sum(g.completion_tokens for c in samples for g in c),
                  sum(1 for c in samples if c and all(g.error for g in c)), seconds)

    def _add(self, requests: int, tokens_in: int, out: int, failures: int, seconds: float) -> None:
        self.requests.inc(requests)
        self.tokens_in.inc(tokens_in)
        self.tokens_out.inc(out)
        self.failures.inc(failures)
        self.latency_ms.update(int(seconds * 1000))
        self._out_total += out
        self._busy_s += seconds
        now = time.monotonic()
        if now - self._last_print >= _PRINT_EVERY_S:
            self._last_print = now
            print(f"[corpusmill] {self.label}: {self._out_total:,} tokens generated in this worker "
                  f"({self._out_total / max(self._busy_s, 1e-9):,.0f} tokens/s while generating)", flush=True)
