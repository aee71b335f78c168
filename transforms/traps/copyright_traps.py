"""The ``copyright_traps`` stage: trap sequences inserted into the corpus, their key kept private.

Meeus et al., "Copyright Traps for Large Language Models" (2024): fictitious
sequences, each inserted many times, let a publisher later test whether a model
was trained on the corpus (``corpusmill traps detect``). The traps and their
controls are generated on the launching machine before the pipeline runs
(``transforms.traps.generate``); the pipeline then

1. withdraws any trap or control that already occurs in a document (Aho-Corasick
   over every document: a sequence the corpus already holds proves nothing);
2. picks each trap's hosts: of the eligible documents (``sources``), the
   ``repetitions`` of smallest seeded rank, by a Top-per-key that carries only
   (rank, id) pairs; fewer eligible documents than the largest repetition count
   fails the run before any dataset is written;
3. inserts each trap once per host, at a sentence boundary, and notes in the
   host's provenance that a trap was inserted, not which.

The key (texts, perplexities, hosts, models) leaves the stage as the stats entry
``TRAP_KEY``; the run writes it to ``OUT/traps/traps.jsonl`` and keeps it out of
the manifest. The ledger is unchanged: every document is kept, hosts modified.
"""
from __future__ import annotations

import os
from typing import Literal

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from transforms.core.model_files import file_sha256
from transforms.core.outcomes import add_provenance
from transforms.core.runner import StageOutputs
from transforms.llm.api import BackendConfig, resolve_model
from transforms.traps.generate import Trap, TrapPlan, generate_traps
from transforms.traps.insert import host_rank, insert_traps

TRAP_KEY = "trap_key"  # the stats entry the run moves to TRAP_KEY_FILE
TRAP_KEY_FILE = "traps/traps.jsonl"  # under OUT, beside data/: private, left out of public releases


class CopyrightTrapsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    generator: BackendConfig = Field(default_factory=BackendConfig, description="the LLM that writes the traps")
    reference: BackendConfig | None = Field(None, description="measures trap perplexity and cuts tokens; "
                                                              "default: the generator")
    lengths: list[int] = Field(default_factory=lambda: [25, 50, 100], description="tokens of the reference tokenizer")
    repetitions: list[int] = Field(default_factory=lambda: [1, 10, 100], description="insertions per trap")
    per_group: int = Field(4, ge=1, description="traps per (length, repetitions, perplexity bin)")
    controls_per_group: int = Field(4, ge=1, description="made the same way, never inserted")
    perplexity_bins: list[tuple[float, float]] | None = Field(None, description="[[lo, hi], ...]: resample until each "
                                                                                 "group's traps fall in its bin")
    temperature: float = Field(1.0, gt=0, le=2, description="sampling temperature to start from; with bins, each "
                                                            "pool's is steered toward its bin")
    max_attempts: int = Field(8, ge=1, description="generation rounds before a short group is reported")
    where: Literal["sentence_boundary", "append"] = "sentence_boundary"
    sources: list[str] | None = Field(None, description="host documents only from these sources")
    language: str = Field("en", description="pysbd's sentence rules")

    @field_validator("lengths", "repetitions")
    @classmethod
    def _positive_unique(cls, values: list[int]) -> list[int]:
        if not values or any(v < 1 for v in values) or len(set(values)) != len(values):
            raise ValueError("needs distinct values of at least 1")
        return values

    @model_validator(mode="after")
    def _bins(self):
        for lo, hi in self.perplexity_bins or []:
            if not 0 < lo < hi:
                raise ValueError(f"perplexity bin [{lo}, {hi}] must have 0 < lo < hi")
        return self

    def plan(self, seed: int) -> TrapPlan:
        return TrapPlan(self.lengths, self.repetitions, self.per_group, self.controls_per_group,
                        self.perplexity_bins, self.temperature, self.max_attempts, seed)


def model_identity(cfg: BackendConfig, config_dir: str | None) -> dict:
    """Which model: its name and, for a local model directory, the sha256 of each weights file."""
    if cfg.kind != "vllm":
        return {"kind": cfg.kind, "model": cfg.model, "base_url": cfg.base_url, "sha256": None}
    path = resolve_model(cfg.model, config_dir)
    weights = sorted(f for f in os.listdir(path) if f.endswith((".safetensors", ".bin", ".gguf", ".pt"))) \
        if os.path.isdir(path) else [os.path.basename(path)]
    base = path if os.path.isdir(path) else os.path.dirname(path)
    return {"kind": cfg.kind, "model": cfg.model, "sha256": {f: file_sha256(os.path.join(base, f)) for f in weights}}


def make_traps(cfg: CopyrightTrapsConfig, seed: int, config_dir: str | None, log=print) -> tuple[list[Trap], list[str]]:
    """Generate on this machine (the generator, then the reference, each closed after)."""
    from transforms.llm.backends import make_backend

    log(f"[corpusmill] copyright_traps: generating {len(cfg.lengths) * len(cfg.repetitions)} group(s) of "
        f"{cfg.per_group} traps + {cfg.controls_per_group} controls with {cfg.generator.model}")
    generator = make_backend(cfg.generator, config_dir, seed)
    try:
        reference = generator if cfg.reference is None else make_backend(cfg.reference, config_dir, seed)
        try:
            traps, warnings = generate_traps(cfg.plan(seed), generator, reference, log=log)
        finally:
            if reference is not generator:
                reference.close()
    finally:
        generator.close()
    for warning in warnings:
        log(f"[corpusmill] warning: copyright_traps: {warning}")
    return traps, warnings


class _FindSequencesFn(beam.DoFn):
    """Ids of the traps and controls whose text already occurs in a document (Aho-Corasick)."""

    def __init__(self, texts: dict[str, str]):
        self._texts = texts
        self._automaton = None

    def setup(self):
        import ahocorasick

        self._automaton = ahocorasick.Automaton()
        for trap_id, text in self._texts.items():
            self._automaton.add_word(text, trap_id)
        self._automaton.make_automaton()

    def process(self, doc):
        for _, trap_id in self._automaton.iter(doc["text"]):
            yield trap_id


class _InsertFn(beam.DoFn):
    def __init__(self, label: str, texts: dict[str, str], seed: int, where: str, language: str):
        self._label, self._texts, self._seed, self._where, self._language = label, texts, seed, where, language
        self._segmenter = None

    def setup(self):
        if self._where == "sentence_boundary":
            import pysbd

            self._segmenter = pysbd.Segmenter(language=self._language, clean=False, char_span=True)

    def process(self, doc, plan):
        trap_ids = plan["by_doc"].get(doc["id"])
        if trap_ids:
            doc = dict(doc)
            doc["text"] = insert_traps(doc["text"], [(t, self._texts[t]) for t in trap_ids], doc["id"], self._seed,
                                       self._where, self._segmenter)
            add_provenance(doc, self._label, "trap_inserted")
        yield doc


def build_plan(eligible: int, candidates: list, found: list, traps: list[Trap], identities: dict,
               warnings: list[str], label: str) -> dict:
    """Hosts per trap (``repetitions`` smallest ranks), minus withdrawn sequences; the key; the public stats."""
    inserted = [t for t in traps if not t.is_control]
    largest = max((t.repetitions for t in inserted), default=0)
    if eligible < largest:
        raise ValueError(f"{label}: {eligible} eligible document(s), fewer than the largest repetition count "
                         f"({largest}); lower `repetitions` or widen `sources`")
    withdrawn = set(found)
    ranked = dict(candidates)
    hosts = {t.trap_id: [doc_id for _, doc_id in sorted(ranked.get(t.trap_id, []))[:t.repetitions]]
             for t in inserted if t.trap_id not in withdrawn}
    by_doc: dict[str, list[str]] = {}
    for trap_id, ids in hosts.items():
        for doc_id in ids:
            by_doc.setdefault(doc_id, []).append(trap_id)
    key = [{**t.as_dict(), "hosts": hosts.get(t.trap_id, []), "withdrawn": t.trap_id in withdrawn, **identities}
           for t in traps]
    groups: dict[str, dict] = {}
    for t in traps:
        g = groups.setdefault(t.group, {"group": t.group, "length": t.length, "repetitions": t.group_repetitions,
                                         "perplexity_bin": t.perplexity_bin, "traps": 0, "controls": 0, "withdrawn": 0})
        g["withdrawn" if t.trap_id in withdrawn else "controls" if t.is_control else "traps"] += 1
    if withdrawn:
        warnings = warnings + [f"{len(withdrawn)} trap/control sequence(s) already occur in the corpus and were "
                               "withdrawn (not inserted, not used as controls)"]
    stats = [("traps", sum(1 for t in inserted if t.trap_id not in withdrawn)),
             ("controls", sum(1 for t in traps if t.is_control and t.trap_id not in withdrawn)),
             ("withdrawn", len(withdrawn)), ("lengths", sorted({t.length for t in traps})),
             ("groups", sorted(groups.values(), key=lambda g: (g["length"], g["repetitions"], g["perplexity_bin"] or ()))), ("eligible_documents", eligible),
             ("insertions", sum(len(ids) for ids in hosts.values())), ("host_documents", len(by_doc)),
             ("key", TRAP_KEY_FILE), (TRAP_KEY, key)]
    if warnings:
        stats.append(("warnings", warnings))
    return {"by_doc": by_doc, "stats": stats}


class CopyrightTraps(beam.PTransform):
    def __init__(self, label: str, cfg: CopyrightTrapsConfig, seed: int, config_dir: str | None):
        super().__init__(label)
        self._label, self._cfg, self._seed, self._config_dir = label, cfg, seed, config_dir

    def expand(self, docs):
        cfg, seed, label = self._cfg, self._seed, self._label
        traps, warnings = make_traps(cfg, seed, self._config_dir)
        identities = {"generator": model_identity(cfg.generator, self._config_dir),
                      "reference": model_identity(cfg.reference or cfg.generator, self._config_dir)}
        texts = {t.trap_id: t.text for t in traps}
        inserted = [(t.trap_id, t.repetitions) for t in traps if not t.is_control]
        largest = max((r for _, r in inserted), default=1)
        sources = set(cfg.sources) if cfg.sources is not None else None
        eligible = docs | "Eligible" >> beam.Filter(lambda d: sources is None or d.get("source") in sources)
        count = eligible | "CountEligible" >> beam.combiners.Count.Globally()
        found = (docs | "FindSequences" >> beam.ParDo(_FindSequencesFn(texts)) | "DistinctFound" >> beam.Distinct()
                 | "FoundList" >> beam.combiners.ToList())
        candidates = (
            eligible
            | "Rank" >> beam.FlatMap(lambda d: [(t, (host_rank(seed, t, d["id"]), d["id"])) for t, _ in inserted])
            | "SmallestRanks" >> beam.combiners.Top.PerKey(largest, key=lambda pair: pair[0], reverse=True)
            | "CandidateList" >> beam.combiners.ToList()
        )
        plan = count | "Plan" >> beam.Map(
            build_plan, beam.pvalue.AsSingleton(candidates), beam.pvalue.AsSingleton(found), traps, identities,
            warnings, label)
        out = docs | "Insert" >> beam.ParDo(_InsertFn(label, texts, seed, cfg.where, cfg.language),
                                            beam.pvalue.AsSingleton(plan))
        return StageOutputs(out, docs | "NothingDropped" >> beam.Filter(lambda _: False),
                            stats=plan | "Stats" >> beam.FlatMap(lambda p: p["stats"]))

