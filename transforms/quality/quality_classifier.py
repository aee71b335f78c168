"""The ``quality_classifier`` stage: a DCLM-style fastText classifier applied to every document.

Training is ``transforms.quality.quality_training`` (``corpusmill train-quality``);
both sides share the DCLM line format and the P(hq) read-out defined here.

The stage scores each document with ``quality_score`` = P(hq) and keeps either
by a fixed ``threshold`` or the ``top_fraction`` of the corpus, a cut computed
in Beam over all workers (``quantiles: exact`` or ``approximate``; the kept
fraction's bound is in ``transforms.core.score_then_cut``).
"""
from __future__ import annotations

from typing import Literal, Sequence

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.core.model_files import ModelStats, local_copy
from transforms.core.outcomes import DocProcessor, Kept, Outcome
from transforms.core.score_then_cut import Fixed, ScoreThenCut, TopFraction

HQ, CC = "__label__hq", "__label__cc"


def dclm_line(text: str) -> str:
    """DCLM's preprocessing: the document on one line (fastText reads one example per line)."""
    return " ".join(text.strip().splitlines())


def hq_probabilities(model, texts: Sequence[str]) -> list[float]:
    """P(hq) per text, one batched fastText call."""
    labels, probs = model.predict([dclm_line(t) for t in texts], k=-1)
    out = []
    for ls, ps in zip(labels, probs):
        by_label = dict(zip(ls, ps))
        out.append(min(1.0, max(0.0, float(by_label.get(HQ, 0.0)))))
    return out


class QualityClassifierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_path: str = Field(..., description="fastText model from `corpusmill train-quality`")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="keep quality_score ≥ threshold")
    top_fraction: float | None = Field(None, gt=0.0, le=1.0, description="keep the best fraction of the corpus")
    quantiles: Literal["exact", "approximate"] = "approximate"
    num_quantiles: int = Field(1001, ge=3)
    epsilon: float = Field(0.001, gt=0.0, lt=1.0)
    batch_size: int = Field(256, gt=0)

    @model_validator(mode="after")
    def _one_rule(self):
        if (self.threshold is None) == (self.top_fraction is None):
            raise ValueError("set exactly one of threshold or top_fraction")
        return self


class QualityScorer(DocProcessor):
    """Writes ``quality_score`` and keeps every document; ``ScoreThenCut`` decides."""

    def __init__(self, model_path: str, batch_size: int = 256):
        self.model_path = model_path
        self.batch_size = batch_size
        self._model = None

    def setup(self) -> None:
        from fasttext.FastText import _FastText

        self._model = _FastText(model_path=local_copy(self.model_path))

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        if self._model is None:
            self.setup()
        for doc, score in zip(docs, hq_probabilities(self._model, [d["text"] for d in docs])):
            doc["quality_score"] = score
        return [Kept(doc) for doc in docs]

    def process(self, doc: dict) -> Outcome:
        return self.process_batch([doc])[0]


class QualityClassifier(beam.PTransform):
    """Score every document, then keep by threshold or by a global top-fraction cut."""

    def __init__(self, label: str, cfg: QualityClassifierConfig, model_path: str):
        super().__init__(label)
        self._stage_label = label
        self._cfg = cfg
        self._model_path = model_path

    def expand(self, docs):
        cfg = self._cfg
        if cfg.threshold is not None:
            cut, reason, rule = Fixed(low=cfg.threshold), "quality_below_threshold", [("threshold", cfg.threshold)]
        else:
            cut = TopFraction(cfg.top_fraction, cfg.quantiles == "exact", cfg.num_quantiles, cfg.epsilon)
            reason = "quality_below_top_fraction"
            rule = [("top_fraction", cfg.top_fraction), ("quantiles", cfg.quantiles),
                    ("cut_error_bound", cut.error_bound())]
        outputs = docs | "ScoreThenCut" >> ScoreThenCut(
            self._stage_label, QualityScorer(self._model_path, cfg.batch_size), "quality_score", cut,
            below=reason, cut_stat="score_cut")
        model = docs.pipeline | "ModelStats" >> ModelStats("model", self._model_path)  # hashed on a worker
        return outputs.with_stats(model, docs.pipeline | "RuleStats" >> beam.Create(rule))
