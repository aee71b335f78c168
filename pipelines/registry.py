"""The stage registry: stage names are a public contract.

Each stage is one ``StageSpec`` entry in ``STAGES``: a pydantic config model
(validated on load) and a ``build(config, context)`` that returns the stage's
PTransform (a ``StageOutputs``). A per-document stage is ``doc_stage(factory)``
around a DocProcessor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
from pydantic import BaseModel

from transforms.core.model_files import ModelStats, WithStats
from transforms.core.outcomes import DocProcessor
from transforms.core.runner import ApplyDocStage
from transforms.decontam.decontaminate import Decontaminate, DecontaminateConfig
from transforms.dedup.exact_dedup import ExactDedup, ExactDedupConfig
from transforms.dedup.minhash_dedup import MinhashDedup, MinhashDedupConfig
from transforms.ordering.icp_order import IcpOrder, IcpOrderConfig
from transforms.prox.prox_stage import ProxConfig, ProxStage
from transforms.quality.heuristic_filters import HeuristicFilters, HeuristicFiltersConfig
from transforms.quality.language_id import LanguageId, LanguageIdConfig
from transforms.quality.language_id import default_model_path as default_lid_model
from transforms.quality.perplexity_filter import PerplexityConfig, PerplexityFilter, make_backend_factory
from transforms.quality.quality_classifier import QualityClassifier, QualityClassifierConfig
from transforms.selection.cluster_select import ClusterSelect, ClusterSelectConfig
from transforms.traps.copyright_traps import CopyrightTraps, CopyrightTrapsConfig
from transforms.web.extract_text import ExtractText, ExtractTextConfig
from transforms.web.pii import Pii, PiiConfig
from transforms.web.url_filter import UrlFilter, UrlFilterConfig


@dataclass(frozen=True)
class StageContext:
    label: str  # unique name of this stage instance in the run (ledger key)
    seed: int
    config_dir: str  # resolve relative model/data paths against this
    output_dir: str
    work_dir: str  # scratch under the run's staging directory (spilled documents); deleted when the run ends


@dataclass(frozen=True)
class StageSpec:
    name: str
    config_model: type[BaseModel]
    build: Callable[[BaseModel, StageContext], beam.PTransform]
    summary: str
    # model files or directories the stage opens, checked before a run starts:
    # {config key: (path or None, how to make it)}
    files: Callable[[BaseModel], dict[str, tuple[str | None, str]]] | None = None


def doc_stage(
    factory: Callable[[BaseModel, StageContext], DocProcessor],
) -> Callable[[BaseModel, StageContext], beam.PTransform]:
    """Build function for a stage that is one DocProcessor."""
    return lambda cfg, ctx: ApplyDocStage(ctx.label, factory(cfg, ctx))


def _model_path(path: str | None, ctx: StageContext) -> str | None:
    from transforms.core.paths import resolve_path

    return resolve_path(path, ctx.config_dir) if path else None


def _language_id(cfg: LanguageIdConfig, ctx: StageContext) -> beam.PTransform:
    processor = LanguageId(_model_path(cfg.model_path, ctx), cfg.languages, cfg.min_score, cfg.batch_size)
    return WithStats(ApplyDocStage(ctx.label, processor), ModelStats("model", processor.model_path, default_lid_model))


def _heuristic_filters(cfg: HeuristicFiltersConfig, ctx: StageContext) -> DocProcessor:
    return HeuristicFilters(ctx.label, cfg.enabled_filters(), cfg.language, cfg.batch_size)


def _icp_order(cfg: IcpOrderConfig, ctx: StageContext) -> beam.PTransform:
    return IcpOrder(ctx.label, cfg, _model_path(cfg.embedding.model_path, ctx), _model_path(cfg.tokenizer, ctx), ctx.seed)


def _icp_files(cfg: IcpOrderConfig) -> dict[str, tuple[str | None, str]]:
    return {**_embedding_files(cfg),
            "tokenizer": (cfg.tokenizer, "point it at a tokenizer.json or an HF model directory")}


def _embedding_files(cfg) -> dict[str, tuple[str | None, str]]:
    return {"embedding.model_path": (cfg.embedding.model_path, "point it at a sentence-transformers model directory")}


# One StageSpec per stage: name, config model, build, summary[, model files checked before a run starts].
STAGES = [
    StageSpec("extract_text", ExtractTextConfig, doc_stage(lambda cfg, ctx: ExtractText(ctx.label, cfg)),
              "HTML → main text with datatrove's Trafilatura (its settings; tables on request) or resiliparse, per-document timeout"),
    StageSpec("url_filter", UrlFilterConfig, doc_stage(lambda cfg, ctx: UrlFilter(ctx.label, cfg)),
              "datatrove's URLFilter (FineWeb's block lists) plus user allow/block lists; the reason names the list"),
    StageSpec("pii", PiiConfig, doc_stage(lambda cfg, ctx: Pii(ctx.label, cfg)),
              "datatrove's PIIFormatter: e-mail and public IP addresses replaced by its placeholders; counts in provenance"),
    StageSpec("decontaminate", DecontaminateConfig,
              lambda cfg, ctx: Decontaminate(ctx.label, cfg, ctx.config_dir, ctx.work_dir),
              "documents holding evaluation-set text (word 13-gram overlap, GPT-3 style) dropped or redacted; "
              "matched items in provenance, contamination per eval set in the stats"),
    StageSpec("exact_dedup", ExactDedupConfig, lambda cfg, ctx: ExactDedup(ctx.label, cfg, ctx.work_dir),
              "drop documents whose whitespace-folded text repeats; keep the smallest id"),
    StageSpec("prox", ProxConfig, lambda cfg, ctx: ProxStage(ctx.label, cfg, ctx.config_dir, ctx.seed),
              "ProX refinement: document-level then chunk-level programs (rules or a model), strict parser"),
    StageSpec("minhash_dedup", MinhashDedupConfig, lambda cfg, ctx: MinhashDedup(ctx.label, cfg, ctx.work_dir),
              "MinHash LSH near-duplicate removal with distributed connected components; keep one per cluster"),
    StageSpec("language_id", LanguageIdConfig, _language_id,
              "fastText lid.176 language ID; keep configured languages above min_score",
              lambda cfg: {"model_path": (cfg.model_path, "point it at a fastText language-ID model file")}),
    StageSpec("heuristic_filters", HeuristicFiltersConfig, doc_stage(_heuristic_filters),
              "datatrove's Gopher repetition/quality, C4 and FineWeb filters; C4 line removal in provenance"),
    StageSpec("quality_classifier", QualityClassifierConfig,
              lambda cfg, ctx: QualityClassifier(ctx.label, cfg, _model_path(cfg.model_path, ctx)),
              "DCLM-style fastText quality_score = P(hq); keep by threshold or top fraction (cut computed in Beam)",
              lambda cfg: {"model_path": (cfg.model_path, "train it with `corpusmill train-quality CONFIG`")}),
    StageSpec("perplexity_filter", PerplexityConfig,
              lambda cfg, ctx: PerplexityFilter(ctx.label, cfg, make_backend_factory(cfg.backend, ctx.config_dir, ctx.seed)),
              "per-token NLL under a small causal LM (backend score()); keep by perplexity threshold or percentile band"),
    StageSpec("icp_order", IcpOrderConfig, _icp_order,
              "In-Context Pretraining order: embeddings, k-means shards, kNN, Algorithm 1 path, contexts; "
              "semantic near-dups dropped", _icp_files),
    StageSpec("cluster_select", ClusterSelectConfig,
              lambda cfg, ctx: ClusterSelect(ctx.label, cfg, _model_path(cfg.embedding.model_path, ctx), ctx.seed),
              "MiniPile selection: embeddings, k-means, clusters excluded by id or rule, a fixed-size sample spread "
              "over the rest; catalogue in the manifest (corpusmill clusters OUT)", _embedding_files),
    StageSpec("copyright_traps", CopyrightTrapsConfig,
              lambda cfg, ctx: CopyrightTraps(ctx.label, cfg, ctx.seed, ctx.config_dir),
              "copyright traps (Meeus et al.): LLM-written sequences inserted into seeded hosts at sentence "
              "boundaries; the private key in OUT/traps/ (corpusmill traps detect)"),
]

REGISTRY: dict[str, StageSpec] = {spec.name: spec for spec in STAGES}
if len(REGISTRY) != len(STAGES):
    raise ValueError(f"a stage name is registered twice: {sorted(s.name for s in STAGES)}")
