"""The stage registry: stage names are a public contract.

Each stage is one ``StageSpec``: a pydantic config model (validated on load)
and a ``build(config, context)`` that returns the stage's PTransform. A
per-document stage is ``doc_stage(factory)`` around a DocProcessor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
from pydantic import BaseModel

from transforms.exact_dedup import ExactDedup, ExactDedupConfig
from transforms.minhash_dedup import MinhashDedup, MinhashDedupConfig
from transforms.outcomes import DocProcessor
from transforms.prox.stage import ProxConfig, ProxStage
from transforms.stage import ApplyDocStage


@dataclass(frozen=True)
class StageContext:
    label: str  # unique name of this stage instance in the run (ledger key)
    seed: int
    config_dir: str  # resolve relative model/data paths against this
    output_dir: str


@dataclass(frozen=True)
class StageSpec:
    name: str
    config_model: type[BaseModel]
    build: Callable[[BaseModel, StageContext], beam.PTransform]
    summary: str


def doc_stage(
    factory: Callable[[BaseModel, StageContext], DocProcessor],
) -> Callable[[BaseModel, StageContext], beam.PTransform]:
    """Build function for a stage that is one DocProcessor."""
    return lambda cfg, ctx: ApplyDocStage(ctx.label, factory(cfg, ctx))


REGISTRY: dict[str, StageSpec] = {}

# Names reserved by the design whose implementation has not landed yet; a config
# that uses one gets a clear error instead of a silently skipped stage.
PLANNED = {
    "language_id",
    "heuristic_filters",
    "quality_classifier",
    "perplexity_filter",
    "icp_order",
}


def register(spec: StageSpec) -> None:
    if spec.name in REGISTRY:
        raise ValueError(f"stage {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    PLANNED.discard(spec.name)


register(
    StageSpec(
        name="exact_dedup",
        config_model=ExactDedupConfig,
        build=lambda cfg, ctx: ExactDedup(ctx.label, cfg),
        summary="drop documents whose whitespace-folded text repeats; keep the smallest id",
    )
)

register(
    StageSpec(
        name="prox",
        config_model=ProxConfig,
        build=lambda cfg, ctx: ProxStage(ctx.label, cfg, ctx.config_dir, ctx.seed),
        summary="ProX refinement: document-level then chunk-level programs (rules or a model), strict parser",
    )
)

register(
    StageSpec(
        name="minhash_dedup",
        config_model=MinhashDedupConfig,
        build=lambda cfg, ctx: MinhashDedup(ctx.label, cfg),
        summary="MinHash LSH near-duplicate removal with distributed connected components; keep one per cluster",
    )
)
