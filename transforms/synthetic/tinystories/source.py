"""The ``tinystories`` source: prompts from (count, seed) as a PCollection, stories from the LLM backend.

Shard ranges [start, stop) are created and reshuffled, so each worker builds
and generates its own prompts (``prompts.build_instructions`` needs no
coordination). ``StoryWriter`` is one DocProcessor under the generic
``ApplyDocStage``: the engine is loaded once per worker process, prompts are
batched, and every prompt ends as a kept story or a story dropped with the
first failed check (all check results are in its provenance). Backend errors
that survive the backend's retries quarantine the prompt with the error.
"""
from __future__ import annotations

import time
from typing import Literal, Sequence

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome, Quarantined, add_provenance
from transforms.core.runner import ApplyDocStage
from transforms.llm.api import BackendConfig, Sampling
from transforms.llm.backends import make_backend
from transforms.llm.metrics import LLMMetrics
from transforms.quality.language_id import LanguageId
from transforms.synthetic.tinystories.checks import StoryLimits, drop_reason, story_checks
from transforms.synthetic.tinystories.instruct import instruct_text
from transforms.synthetic.tinystories.judge import AGE_GROUPS, judge_messages, parse_grades
from transforms.synthetic.tinystories.prompts import (
    END_MARKER,
    Instruction,
    build_instructions,
    stop_strings,
    story_messages,
    story_request,
    summary_messages,
)
from transforms.synthetic.tinystories.vocabulary import load_vocabulary


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: BackendConfig | None = Field(
        None, description="the grading model; null: the generator's engine (no second engine on CPU)")
    max_tokens: int = Field(64, ge=8)
    min_mean: float | None = Field(None, ge=0, le=10, description="drop stories whose mean grade is below this")
    drop_unparseable: bool = Field(False, description="drop stories whose grades cannot be read (default: keep, recorded)")


class TinyStoriesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["tinystories"]
    count: int = Field(gt=0, description="number of prompts (stories attempted)")
    seed: int | None = Field(None, description="prompt seed; default: the run's seed")
    source: str = "tinystories"
    vocabulary: str | None = Field(None, description="vocabulary JSON; default the packaged transforms/synthetic/tinystories/vocabulary.json")
    generator: BackendConfig = Field(default_factory=BackendConfig)
    max_tokens: int = Field(900, ge=16)
    end_marker: str | None = Field(END_MARKER, description="asked for at the story's end and used as a stop string")
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    min_words: int = Field(60, ge=1)
    max_words: int = Field(700, ge=1)
    min_lang_score: float = Field(0.65, ge=0, le=1)
    summary: bool = Field(False, description="generate a one-sentence summary (used by the instruct format)")
    judge: JudgeConfig | None = None
    output_format: Literal["story", "instruct"] = "story"
    batch_size: int = Field(16, ge=1)
    prompts_per_shard: int = Field(64, ge=1)


class StoryWriter(DocProcessor):
    def __init__(self, label: str, cfg: TinyStoriesConfig, seed: int, config_dir: str | None = None):
        self.label = label
        self.cfg = cfg
        self.seed = seed
        self.config_dir = config_dir
        self.batch_size = self.min_batch_size = cfg.batch_size  # one engine call per full batch
        self.limits = StoryLimits(cfg.min_words, cfg.max_words)
        self._backend = self._judge = self._lid = self._metrics = None

    def setup(self) -> None:
        self._backend = make_backend(self.cfg.generator, self.config_dir, self.seed)
        judge = self.cfg.judge
        if judge is not None:
            self._judge = make_backend(judge.backend, self.config_dir, self.seed) if judge.backend else self._backend
        self._lid = LanguageId(languages=["en"], min_score=self.cfg.min_lang_score)
        self._lid.setup()
        self._metrics = LLMMetrics(self.label)

    def teardown(self) -> None:
        for backend in {id(b): b for b in (self._judge, self._backend) if b is not None}.values():
            backend.close()
        self._backend = self._judge = None

    def _generate(self, backend, prompts: list, sampling: Sampling):
        start = time.monotonic()
        gens = backend.generate(prompts, sampling)
        self._metrics.record(gens, time.monotonic() - start)
        return gens

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        if self._backend is None:
            self.setup()
        cfg = self.cfg
        instructions = [Instruction(**{**d["_instruction"], "features": tuple(d["_instruction"]["features"])})
                        for d in docs]
        sampling = Sampling(max_tokens=cfg.max_tokens, temperature=cfg.temperature, top_p=cfg.top_p, seed=self.seed,
                            stop=stop_strings(cfg.end_marker))
        gens = self._generate(self._backend, [story_messages(i, cfg.end_marker) for i in instructions], sampling)
        langs = self._lid.predict([g.text for g in gens])
        outcomes: list[Outcome | None] = [None] * len(docs)
        passed: list[int] = []
        for k, (doc, ins, gen, lang) in enumerate(zip(docs, instructions, gens, langs)):
            doc["text"] = gen.text.strip()
            doc["lang"], doc["lang_score"] = lang
            record = {"model": cfg.generator.model, "temperature": cfg.temperature, "top_p": cfg.top_p,
                      "max_tokens": cfg.max_tokens, "seed": self.seed, "prompt_index": ins.index,
                      "finish_reason": gen.finish_reason, "completion_tokens": gen.completion_tokens,
                      "attempts": gen.attempts}
            if gen.error and gen.error != "empty output":
                add_provenance(doc, self.label, "generation_failed", error=gen.error, **record)
                outcomes[k] = Quarantined(doc, f"generation: {gen.error}")
                continue
            checks = story_checks(doc["text"], gen.finish_reason, ins, story_request(ins, cfg.end_marker), self.limits, lang,
                                  cfg.min_lang_score)
            reason = drop_reason(checks, doc["text"], ins, self.limits, lang)
            add_provenance(doc, self.label, "generated", checks=checks, **record)
            if reason:
                outcomes[k] = Dropped(doc, reason)
            else:
                passed.append(k)
        summaries = self._summaries([docs[k] for k in passed]) if cfg.summary else [None] * len(passed)
        if cfg.judge is not None:
            for k, outcome in zip(passed, self._judge_all([docs[k] for k in passed])):
                outcomes[k] = outcome
        for k, summary in zip(passed, summaries):
            doc = docs[k]
            if summary:
                doc["summary"] = summary
            if cfg.output_format == "instruct" and outcomes[k] is None:
                doc["story"] = doc["text"]
                doc["text"] = instruct_text(doc["text"], doc["instruction_words"], doc["instruction_features"],
                                            summary, self.seed, instructions[k].index)
            if outcomes[k] is None:
                outcomes[k] = Kept(doc)
        return outcomes  # type: ignore[return-value]

    def _summaries(self, docs: list[dict]) -> list[str | None]:
        if not docs:
            return []
        gens = self._generate(self._backend, [summary_messages(d["text"]) for d in docs],
                              Sampling(max_tokens=80, temperature=0.0, seed=self.seed))
        return [None if g.error or g.finish_reason == "length" else g.text.strip() or None for g in gens]

    def _judge_all(self, docs: list[dict]) -> list[Outcome | None]:
        """Grade each story; None means keep (the caller finishes it)."""
        if not docs:
            return []
        judge = self.cfg.judge
        gens = self._generate(self._judge, [judge_messages(d["text"]) for d in docs],
                              Sampling(max_tokens=judge.max_tokens, temperature=0.0, seed=self.seed))
        model = judge.backend.model if judge.backend else self.cfg.generator.model
        out: list[Outcome | None] = []
        for doc, gen in zip(docs, gens):
            grades = parse_grades(gen.text)
            doc["judge_scores"] = dict(grades.scores)
            if grades.age_group:
                doc["judge_age_group"] = f"{grades.age_group} ({AGE_GROUPS[grades.age_group]})"
            add_provenance(doc, self.label, "judged" if grades.complete else "judge_unparseable", model=model,
                           reply=gen.text[:500], error=gen.error, mean=grades.mean)
            if not grades.complete:
                out.append(Dropped(doc, "judge_unparseable") if judge.drop_unparseable else None)
            elif judge.min_mean is not None and grades.mean < judge.min_mean:
                out.append(Dropped(doc, "judge_below_threshold"))
            else:
                out.append(None)
        return out


def instruction_doc(ins: Instruction, seed: int, source: str) -> dict:
    return {
        "id": f"{source}-s{seed}-{ins.index:08d}",
        "text": "",
        "source": source,
        "synthetic": True,
        "instruction_words": ins.words,
        "instruction_features": list(ins.features),
        "_instruction": {"index": ins.index, "verb": ins.verb, "noun": ins.noun, "adjective": ins.adjective,
                         "features": list(ins.features)},
    }


class TinyStoriesSource(beam.PTransform):
    """PBegin → StageOutputs: ``inputs`` the prompts, ``kept`` the stories."""

    def __init__(self, label: str, cfg: TinyStoriesConfig, config_dir: str | None, run_seed: int):
        super().__init__(label)
        self._label = label
        self._cfg = cfg
        self._config_dir = config_dir
        self._seed = cfg.seed if cfg.seed is not None else run_seed
        self._vocab = load_vocabulary(cfg.vocabulary)
        if cfg.count > self._vocab.triples:
            raise ValueError(f"{label}: count {cfg.count} exceeds the {self._vocab.triples} distinct word triples")

    def expand(self, pbegin):
        cfg, seed, vocab = self._cfg, self._seed, self._vocab
        per = cfg.prompts_per_shard
        shards = [(start, min(start + per, cfg.count)) for start in range(0, cfg.count, per)]
        prompts = (
            pbegin
            | "Shards" >> beam.Create(shards)
            | "SpreadShards" >> beam.Reshuffle()
            | "Prompts" >> beam.FlatMapTuple(
                lambda start, stop: [instruction_doc(i, seed, cfg.source)
                                     for i in build_instructions(vocab, seed, start, stop)])
        )
        outputs = prompts | "Write" >> ApplyDocStage(self._label, StoryWriter(self._label, cfg, seed, self._config_dir))
        return outputs._replace(inputs=prompts)
