"""The ``prox`` stage: document-level then chunk-level refining programs.

Program sources (``writer``), both running through the same parser and executor:
- ``rules`` (default, CPU): ``transforms.prox.rules``. Lines repeated across
  documents of one source are found here in Beam (count of documents per
  (source, line hash), then a threshold relative to the source's size), and
  reach the writer as a side input: no single process sees the corpus.
- ``model``: a refining model through ``transforms.llm.api`` (vLLM offline
  engine, or an OpenAI-compatible server). The stage runner loads the engine
  once per worker process and closes it after its last user; batches are full
  (``min_batch_size``). A generation that still fails after the backend's
  retries leaves the document unchanged, with the error in provenance and counted.

Provenance per document: the program text (as written), the error count and
messages, the statements executed, the writer. Stage stats (the manifest) count
programs, malformed programs, executed statements, programs cut by
``max_tokens`` and generation errors; the Beam counters count the same.
"""
from __future__ import annotations

import json
import time
from typing import Literal

import apache_beam as beam
from apache_beam.metrics import Metrics
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome, add_provenance, describe_error
from transforms.core.runner import ApplyDocStage
from transforms.llm.api import BackendConfig, GenerationBackend, Sampling
from transforms.llm.backends import make_backend
from transforms.llm.metrics import LLMMetrics
from transforms.prox import prompts
from transforms.prox.executor import ChunkRules, Result, run_chunk_program, run_doc_program
from transforms.prox.grammar import DOC_CONSTRAINT, chunk_constraint, complete_lines
from transforms.prox.rules import RuleConfig, line_key, write_chunk_program, write_doc_program

STAGE = "prox"
_MAX_PROGRAM_CHARS = 20_000


class ProxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    writer: Literal["rules", "model"] = "rules"
    doc_level: bool = True
    chunk_level: bool = True
    # executor (ProX paper values)
    drop_ratio: float = Field(0.05, ge=0, le=1)
    min_words: int = Field(10, ge=0)
    max_errors: int = Field(2, ge=1)
    # rules writer
    repeat_min_frac: float = Field(0.3, gt=0, le=1)
    repeat_min_docs: int = Field(3, ge=2)
    short_words: int = Field(10, ge=1)
    footer_lines: int = Field(15, ge=0)
    max_short_run: int = Field(100, ge=0)
    repeat_min_words_alone: int = Field(6, ge=1)
    # model writer
    backend: BackendConfig = BackendConfig()
    constrained: bool = True  # decode under the program grammar (doc: a choice; chunk: one call per line)
    few_shot: bool = True  # instruction + example in the prompt (for untrained models like SmolLM2)
    doc_tokens: int = Field(2000, ge=16)
    chunk_tokens: int = Field(1500, ge=16)
    doc_max_new_tokens: int = Field(16, ge=1)
    chunk_max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0)
    batch_size: int = Field(16, ge=1)

    @model_validator(mode="after")
    def _backend_can_constrain(self):
        missing = {"grammar", "choice"} - set(self.backend.constraint_forms())
        if self.writer == "model" and self.constrained and missing:
            raise ValueError(f"constrained: true needs {sorted(missing)} constraints, which backend kind "
                             f"{self.backend.kind!r} with server {self.backend.server!r} cannot decode; "
                             f"set constrained: false, or server: vllm")
        return self

    def chunk_rules(self) -> ChunkRules:
        return ChunkRules(self.drop_ratio, self.min_words, self.max_errors)

    def rule_config(self) -> RuleConfig:
        return RuleConfig(footer_lines=self.footer_lines, short_words=self.short_words,
                          max_short_run=self.max_short_run, repeat_min_words_alone=self.repeat_min_words_alone)


class _ProgramMetrics:
    """Beam metrics for the programs (the model calls are counted by ``LLMMetrics``)."""

    def __init__(self, label: str):
        ns = f"corpusmill.{label}"
        self.program_errors = Metrics.counter(ns, "program_errors")
        self.discarded = Metrics.counter(ns, "programs_discarded")
        # A program is malformed when any statement failed to parse or execute, or
        # (document level) no valid decision was found: the demo's headline figure.
        self.doc_programs = Metrics.counter(ns, "doc_programs")
        self.doc_malformed = Metrics.counter(ns, "doc_programs_malformed")
        self.chunk_programs = Metrics.counter(ns, "chunk_programs")
        self.chunk_malformed = Metrics.counter(ns, "chunk_programs_malformed")
        self.statements = Metrics.counter(ns, "statements_executed")
        # chunk programs cut by max_tokens: their partial last line is dropped before parsing
        self.truncated = Metrics.counter(ns, "programs_truncated")


class ProxProcessor(DocProcessor):
    """Refine documents with doc- then chunk-level programs from ``cfg.writer``.

    ``repeated`` (source → set of line hashes, a side input per batch) feeds the
    rules writer; without it the rules writer uses patterns only.
    """

    def __init__(self, cfg: ProxConfig, label: str = STAGE, config_dir: str | None = None, seed: int = 0,
                 backend: GenerationBackend | None = None):
        self.cfg = cfg
        self.label = label
        self.config_dir = config_dir
        self.seed = seed
        self.batch_size = cfg.batch_size
        # An engine step costs per call; the rules writer has no per-call cost.
        self.min_batch_size = cfg.batch_size if cfg.writer == "model" else 1
        self.backend = backend
        self._owns_backend = backend is None
        self._llm: LLMMetrics | None = None

    def setup(self) -> None:
        if self.cfg.writer == "model" and self.backend is None:
            self.backend = make_backend(self.cfg.backend, self.config_dir, self.seed)

    def teardown(self) -> None:
        if self.backend is not None and self._owns_backend:
            self.backend.close()
            self.backend = None

    # -- program writing ---------------------------------------------------
    def _sampling(self, max_tokens: int) -> Sampling:
        return Sampling(max_tokens=max_tokens, temperature=self.cfg.temperature, seed=self.seed)

    def _generate(self, messages: list, max_tokens: int, constraints=None):
        if self._llm is None:
            self._llm = LLMMetrics(self.label)
        start = time.monotonic()
        gens = self.backend.generate(messages, self._sampling(max_tokens),
                                     constraints if self.cfg.constrained else None)
        self._llm.record(gens, time.monotonic() - start)
        return gens

    def _doc_programs(self, docs) -> list[tuple[str, str | None]]:
        if self.cfg.writer == "rules":
            return [(write_doc_program(d["text"]), None) for d in docs]
        b = self.backend
        results: list[tuple[str, str | None]] = [("", None)] * len(docs)
        owner, msgs = [], []
        for k, d in enumerate(docs):
            try:  # a remote tokenizer can fail like generation does: keep the document, record why
                text = prompts.truncate_tokens(d["text"], b.tokenize, b.detokenize, self.cfg.doc_tokens)
            except Exception as exc:  # noqa: BLE001
                results[k] = ("", describe_error(exc))
                continue
            owner.append(k)
            msgs.append(prompts.doc_messages(text, self.cfg.few_shot))
        gens = self._generate(msgs, self.cfg.doc_max_new_tokens, DOC_CONSTRAINT) if msgs else []
        for k, g in zip(owner, gens):
            results[k] = (g.text, g.error)
        return results

    def _chunk_programs(self, docs, repeated: dict[str, frozenset[int]]) -> list[tuple[str, str | None, int]]:
        """Per document: its chunks' programs joined, the generation errors, and how many were cut by max_tokens."""
        if self.cfg.writer == "rules":
            rc = self.cfg.rule_config()
            return [(write_chunk_program(d["text"], repeated.get(d.get("source") or "", frozenset()), rc), None, 0)
                    for d in docs]
        b = self.backend
        owner, msgs, constraints = [], [], []
        texts: list[list[str]] = [[] for _ in docs]
        errors: list[list[str]] = [[] for _ in docs]
        truncated = [0] * len(docs)
        for k, d in enumerate(docs):
            try:
                chunks = prompts.chunks_of(d["text"], b.tokenize, self.cfg.chunk_tokens)
            except Exception as exc:  # noqa: BLE001 - see _doc_programs
                errors[k].append(describe_error(exc))
                continue
            for chunk in chunks:
                owner.append(k)
                msgs.append(prompts.chunk_messages(chunk.text, self.cfg.few_shot))
                constraints.append(chunk_constraint(chunk.first, chunk.last))
        gens = self._generate(msgs, self.cfg.chunk_max_new_tokens, constraints) if msgs else []
        for k, g in zip(owner, gens):
            text = g.text
            if g.finish_reason == "length":
                text, cut = complete_lines(text)
                truncated[k] += cut
            texts[k].append(text)
            if g.error:
                errors[k].append(g.error)
        return [("\n".join(t), "; ".join(e) or None, n) for t, e, n in zip(texts, errors, truncated)]

    # -- decisions ---------------------------------------------------------
    def process_batch(self, docs, repeated: dict[str, frozenset[int]] | None = None) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(docs)
        metrics = _ProgramMetrics(self.label)
        live = list(range(len(docs)))
        records: dict[int, dict] = {i: {"writer": self.cfg.writer} for i in live}

        if self.cfg.doc_level:
            for i, (program, gen_error) in zip(live, self._doc_programs([docs[i] for i in live])):
                rec = records[i]
                if gen_error:
                    rec["doc_generation_error"] = gen_error
                    continue
                res = run_doc_program(docs[i]["text"], program)
                malformed = bool(res.errors) or not res.applied
                rec.update(doc_program=program[:_MAX_PROGRAM_CHARS], doc_errors=len(res.errors),
                           doc_malformed=malformed, statements=0 if malformed else 1)
                metrics.program_errors.inc(len(res.errors))
                metrics.doc_programs.inc()
                if malformed:
                    metrics.doc_malformed.inc()
                else:
                    metrics.statements.inc()
                if res.drop_reason:
                    outcomes[i] = self._finish_drop(docs[i], res.drop_reason, rec)
            live = [i for i in live if outcomes[i] is None]

        if self.cfg.chunk_level and live:
            for i, (program, gen_error, cut) in zip(live, self._chunk_programs([docs[i] for i in live],
                                                                                repeated or {})):
                rec = records[i]
                if cut:
                    rec["chunk_programs_truncated"] = cut
                    metrics.truncated.inc(cut)
                if gen_error:
                    rec["chunk_generation_error"] = gen_error
                    continue
                res = run_chunk_program(docs[i]["text"], program, self.cfg.chunk_rules())
                rec.update(chunk_program=program[:_MAX_PROGRAM_CHARS], chunk_errors=len(res.errors),
                           chunk_error_messages=res.errors[:5], applied=res.applied)
                metrics.program_errors.inc(len(res.errors))
                metrics.chunk_programs.inc()
                if res.errors:
                    metrics.chunk_malformed.inc()
                if res.applied:
                    metrics.statements.inc(res.statements)
                    rec["statements"] = rec.get("statements", 0) + res.statements
                if not res.applied and res.drop_reason is None:
                    metrics.discarded.inc()
                outcomes[i] = self._finish_chunk(docs[i], res, rec)

        for i in range(len(docs)):
            if outcomes[i] is None:
                doc = dict(docs[i])
                failed = "doc_generation_error" in records[i] or "chunk_generation_error" in records[i]
                add_provenance(doc, self.label, "generation_failed" if failed else "kept", **records[i])
                outcomes[i] = Kept(doc)
        return outcomes  # type: ignore[return-value]

    def _finish_drop(self, doc: dict, reason: str, rec: dict) -> Outcome:
        doc = dict(doc)
        add_provenance(doc, self.label, "dropped", reason=reason, **rec)
        return Dropped(doc, reason)

    def _finish_chunk(self, doc: dict, res: Result, rec: dict) -> Outcome:
        if res.drop_reason:
            return self._finish_drop(doc, res.drop_reason, rec)
        doc = dict(doc)
        if res.applied and res.text != doc["text"]:
            action = "refined"
            doc["text"] = res.text
        else:
            action = "program_discarded" if not res.applied else "kept"
        add_provenance(doc, self.label, action, **rec)
        return Kept(doc)


# -- Beam ------------------------------------------------------------------

def _doc_line_keys(doc: dict):
    source = doc.get("source") or ""
    for key in {line_key(line) for line in doc["text"].split("\n") if line.strip()}:
        yield source, key


class RepeatedLines(beam.PTransform):
    """source → frozenset of line hashes found in >= max(min_docs, min_frac × docs of the source) documents."""

    def __init__(self, min_frac: float, min_docs: int):
        super().__init__()
        self.min_frac, self.min_docs = min_frac, min_docs

    def expand(self, docs):
        sizes = docs | "DocsPerSource" >> beam.Map(lambda d: (d.get("source") or "", 1)) | beam.CombinePerKey(sum)
        counts = (
            docs
            | "LineKeys" >> beam.FlatMap(_doc_line_keys)
            | "CountDocs" >> beam.combiners.Count.PerElement()
        )

        def frequent(kv, sizes):
            (source, key), n = kv
            if n >= max(self.min_docs, self.min_frac * sizes.get(source, 0)):
                yield source, key

        return (
            counts
            | "Frequent" >> beam.FlatMap(frequent, sizes=beam.pvalue.AsDict(sizes))
            | "BySource" >> beam.GroupByKey()
            | "AsSet" >> beam.MapTuple(lambda source, keys: (source, frozenset(keys)))
        )


def program_counts(doc: dict, label: str):
    """``(name, 1 or n)`` for the stage's stats, from the document's ``prox`` provenance record."""
    entry = next((p for p in reversed(doc.get("provenance") or []) if p["stage"] == label), None)
    detail = json.loads(entry["detail"]) if entry and entry.get("detail") else {}
    if "doc_program" in detail:
        yield "doc_programs", 1
        yield "doc_programs_malformed", int(detail["doc_malformed"])
    if "chunk_program" in detail:
        yield "chunk_programs", 1
        yield "chunk_programs_malformed", int(detail["chunk_errors"] > 0)
    yield "statements_executed", detail.get("statements", 0)
    yield "programs_truncated", detail.get("chunk_programs_truncated", 0)
    yield "generation_errors", int("doc_generation_error" in detail or "chunk_generation_error" in detail)


class ProxStage(beam.PTransform):
    def __init__(self, label: str, cfg: ProxConfig, config_dir: str | None = None, seed: int = 0):
        super().__init__(label)
        self._label = label
        self._cfg = cfg
        self._processor = ProxProcessor(cfg, label, config_dir, seed)

    def expand(self, docs):
        side = None
        if self._cfg.writer == "rules" and self._cfg.chunk_level:
            repeated = docs | "RepeatedLines" >> RepeatedLines(self._cfg.repeat_min_frac, self._cfg.repeat_min_docs)
            side = {"repeated": beam.pvalue.AsDict(repeated)}
        out = docs | "Refine" >> ApplyDocStage(self._label, self._processor, side=side)
        stats = (
            (out.kept, out.dropped)
            | "Decided" >> beam.Flatten()
            | "ProgramCounts" >> beam.FlatMap(program_counts, self._label)
            | "SumCounts" >> beam.CombinePerKey(sum)
        )
        return out._replace(stats=stats)
