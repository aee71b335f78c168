"""``corpusmill train-quality``: train a DCLM-style fastText quality classifier.

The DCLM recipe: one line per document with its newlines joined by spaces,
labels ``__label__hq`` / ``__label__cc``, fastText supervised with
``wordNgrams=2``. A seeded held-out split gives precision, recall (of hq at
P(hq) ≥ 0.5) and ROC AUC (scikit-learn). The model is written with a
``.sha256`` file and a ``.json`` report beside it; the ``quality_classifier``
stage (``transforms.quality.quality_classifier``) applies it.
"""
from __future__ import annotations

import json
import random
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from transforms.core.model_files import file_sha256
from transforms.quality.quality_classifier import CC, HQ, dclm_line, hq_probabilities


class TextSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str]
    format: Literal["jsonl", "text"] = "jsonl"
    text_field: str = "text"


class FastTextParams(BaseModel):
    """fastText ``train_supervised`` arguments; DCLM: wordNgrams 2, fastText defaults otherwise."""

    model_config = ConfigDict(extra="forbid")
    wordNgrams: int = 2
    epoch: int = 5
    lr: float = 0.1
    dim: int = 100
    minCount: int = 1
    bucket: int = 2_000_000  # hashed n-gram rows; the model file is (words + bucket) × dim floats
    thread: int = 1  # 1 thread makes training deterministic for a seed


class TrainQualityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    positive: list[TextSource]
    negative: list[TextSource]
    output: str = Field(..., description="model file to write (.bin)")
    held_out_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_docs_per_class: int | None = Field(None, gt=0)
    seed: int = 0
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    config_dir: str = "."


def read_texts(source: TextSource) -> list[str]:
    """All texts of a source (Beam filesystems: local or gs://; compression from the extension)."""
    from apache_beam.io.filesystems import FileSystems

    texts = []
    for pattern in source.paths:
        matches = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        if not matches:
            raise FileNotFoundError(f"{pattern}: matches no files")
        for path in matches:
            with FileSystems.open(path) as fh:
                data = fh.read().decode("utf-8")
            if source.format == "text":
                texts.append(data)
                continue
            for line in data.splitlines():
                if line.strip():
                    value = json.loads(line).get(source.text_field)
                    if isinstance(value, str) and value.strip():
                        texts.append(value)
    return texts


def split_examples(pos: Sequence[str], neg: Sequence[str], held_out: float, seed: int, cap: int | None):
    """Seeded shuffle per class, then the same held-out fraction from each (stratified)."""
    rng = random.Random(seed)
    train, test = [], []
    for label, texts in ((HQ, list(pos)), (CC, list(neg))):
        rng.shuffle(texts)
        texts = texts[:cap] if cap else texts
        n_test = max(1, round(len(texts) * held_out))
        test += [(label, t) for t in texts[:n_test]]
        train += [(label, t) for t in texts[n_test:]]
    rng.shuffle(train)
    return train, test


MIN_SCORE_SPREAD = 0.05


def score_spread(scores: Sequence[float]) -> float:
    """90th minus 10th percentile of P(hq): near 0, every score sits at the prior (an undertrained model)."""
    import numpy as np

    return float(np.percentile(scores, 90) - np.percentile(scores, 10)) if len(scores) else 0.0


def undertrained_warning(report: dict) -> str | None:
    """A barely trained fastText model can rank well (high AUC) while every P(hq) is ~0.5, so a
    ``threshold`` means nothing; a few hundred documents with fastText's defaults do exactly that."""
    if report["score_spread"] >= MIN_SCORE_SPREAD:
        return None
    return (f"held-out P(hq) spans only {report['score_spread']:.4f} (10th-90th percentile): the model is "
            f"barely trained, so thresholds on quality_score mean little; raise fasttext.epoch or fasttext.lr "
            f"(or train on more documents)")


def evaluate(model, test: Sequence[tuple[str, str]]) -> dict:
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    scores = hq_probabilities(model, [t for _, t in test])
    truth = [label == HQ for label, _ in test]
    predicted = [s >= 0.5 for s in scores]
    return {
        "held_out_docs": len(test),
        "held_out_hq": sum(truth),
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
        "auc": float(roc_auc_score(truth, scores)),
        "score_spread": score_spread(scores),
    }


def _train_and_save(train_file: str, output: str, seed: int, params: dict) -> None:
    import fasttext

    fasttext.train_supervised(input=train_file, seed=seed, verbose=0, **params).save_model(output)


def _train_in_fresh_process(train_file: str, output: str, seed: int, params: dict) -> None:
    """Train in a spawned process: the same model whatever the caller has loaded.

    fastText's SGD once ended in "Encountered NaN" inside a long test process
    (other libraries had been loaded, and some change process-wide state such
    as floating-point modes or thread pools) while the same data trained fine
    alone; a fresh interpreter makes the result depend on the data and seed only.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(_train_and_save, (train_file, output, seed, params))


def train_quality_model(cfg: TrainQualityConfig, log=print) -> dict:
    import os
    import tempfile

    import fasttext

    from transforms.core.paths import resolve_path

    def texts_of(sources):
        out = []
        for src in sources:
            src = src.model_copy(update={"paths": [resolve_path(p, cfg.config_dir) for p in src.paths]})
            out += read_texts(src)
        return out

    pos, neg = texts_of(cfg.positive), texts_of(cfg.negative)
    train, test = split_examples(pos, neg, cfg.held_out_fraction, cfg.seed, cfg.max_docs_per_class)
    output = resolve_path(cfg.output, cfg.config_dir)
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        fh.writelines(f"{label} {dclm_line(text)}\n" for label, text in train)
        train_file = fh.name
    try:
        _train_in_fresh_process(train_file, output, cfg.seed, cfg.fasttext.model_dump())
    finally:
        os.unlink(train_file)
    model = fasttext.load_model(output)
    sha = file_sha256(output)
    report = {
        "model": output,
        "sha256": sha,
        "train_docs": len(train),
        "positive_docs": len(pos),
        "negative_docs": len(neg),
        **evaluate(model, test),
        "fasttext": cfg.fasttext.model_dump(),
        "seed": cfg.seed,
    }
    with open(output + ".sha256", "w") as fh:
        fh.write(f"{sha}  {os.path.basename(output)}\n")
    with open(output + ".json", "w") as fh:
        json.dump(report, fh, indent=2, sort_keys=True)
    log(
        f"[corpusmill] quality model {output} (sha256 {sha[:12]}…): held-out {report['held_out_docs']} docs, "
        f"precision {report['precision']:.3f}, recall {report['recall']:.3f}, AUC {report['auc']:.3f}, "
        f"P(hq) spread {report['score_spread']:.3f}"
    )
    warning = undertrained_warning(report)
    if warning:
        log(f"[corpusmill] warning: {warning}")
    return report
