"""The ``tinystories`` source: prompts from (count, seed) as a PCollection, stories from the LLM backend.

Shard ranges [start, stop) are created and reshuffled, so each worker builds
and generates its own prompts (``prompts.build_instructions`` needs no
coordination). ``StoryWriter`` is one DocProcessor under the generic
``ApplyDocStage``: the engine is loaded once per worker process, prompts are
batched, and each prompt is sampled ``candidates`` times in one request
(``candidates.py`` says which one is kept, or why the prompt is dropped; the
provenance lists every candidate and the check it failed). Backend errors
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
from transforms.synthetic.tinystories.candidates import (
    Candidate,
    best_graded,
    first_passing,
    representative_failure,
)
from transforms.synthetic.tinystories.checks import StoryLimits, drop_reason, story_checks
from transforms.synthetic.tinystories.instruct import instruct_text
from transforms.synthetic.tinystories.judge import AGE_GROUPS, grade_constraint, judge_messages, parse_grades
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
from transforms.synthetic.tinystories.word_bias import word_bias


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: BackendConfig | None = Field(
        None, description="the grading model; null: the generator's engine (no second engine on CPU)")
    max_tokens: int = Field(64, ge=8)
    min_mean: float | None = Field(None, ge=0, le=10, description="drop stories whose mean grade is below this")
    drop_unparseable: bool = Field(False, description="drop stories whose grades cannot be read (default: keep, recorded)")
    constrained: bool = Field(True, description="decode grades under a regex (vLLM) or JSON schema (other servers), "
                                                "so they always parse; false: free text and the lenient parser")


class TinyStoriesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["tinystories"]
    count: int = Field(gt=0, description="number of prompts (stories attempted)")
    seed: int | None = Field(None, description="prompt seed; default: the run's seed")
    source: str = "tinystories"
    vocabulary: str | None = Field(None, description="vocabulary JSON; default the packaged transforms/synthetic/tinystories/vocabulary.json")
    generator: BackendConfig = Field(default_factory=BackendConfig)
    max_tokens: int = Field(900, ge=16)
    candidates: int = Field(1, ge=1, le=64, description="stories sampled per prompt in one request; the first "
                                                      "that passes every check is kept (the best graded with a judge)")
    end_marker: str | None = Field(END_MARKER, description="asked for at the story's end and used as a stop string")
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0, le=2, description="vLLM's; > 1 breaks the loops small models "
                                                                   "fall into (stories that never end)")
    word_bias: float = Field(0.0, ge=0, le=10, description="logit bias toward the required words (one-token forms); "
                                                          "0: off. For small models that ignore the words")
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
        self._grade_constraint = None

    def setup(self) -> None:
        self._backend = make_backend(self.cfg.generator, self.config_dir, self.seed)
        judge = self.cfg.judge
        if judge is not None:
            self._judge = make_backend(judge.backend, self.config_dir, self.seed) if judge.backend else self._backend
            if judge.constrained:
                self._grade_constraint = grade_constraint((judge.backend or self.cfg.generator).constraint_forms())
        self._lid = LanguageId(languages=["en"], min_score=self.cfg.min_lang_score)
        self._lid.setup()
        self._metrics = LLMMetrics(self.label)

    def teardown(self) -> None:
        for backend in {id(b): b for b in (self._judge, self._backend) if b is not None}.values():
            backend.close()
        self._backend = self._judge = None

    def _generate(self, backend, prompts: list, sampling: Sampling, constraint=None):
        start = time.monotonic()
        gens = backend.generate(prompts, sampling, constraint)
        self._metrics.record(gens, time.monotonic() - start)
        return gens

    def _sample(self, prompts: list, samplings: list[Sampling]):
        start = time.monotonic()
        samples = self._backend.sample(prompts, samplings)
        self._metrics.record_samples(samples, time.monotonic() - start)
        return samples

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        if self._backend is None:
            self.setup()
        cfg = self.cfg
        instructions = [Instruction(**{**d["_instruction"], "features": tuple(d["_instruction"]["features"])})
                        for d in docs]
        samplings = [Sampling(max_tokens=cfg.max_tokens, temperature=cfg.temperature, top_p=cfg.top_p, seed=self.seed,
                              stop=stop_strings(cfg.end_marker), n=cfg.candidates,
                              repetition_penalty=cfg.repetition_penalty,
                              logit_bias=word_bias(i, self._backend.tokenize, cfg.word_bias))
                     for i in instructions]
        samples = self._sample([story_messages(i, cfg.end_marker) for i in instructions], samplings)
        langs = iter(self._lid.predict([g.text for gens in samples for g in gens]))
        outcomes: list[Outcome | None] = [None] * len(docs)
        passing: dict[int, list[Candidate]] = {}
        records: dict[int, dict] = {}
        for k, (doc, ins, gens) in enumerate(zip(docs, instructions, samples)):
            prompt_langs = [next(langs) for _ in gens]
            records[k] = {"model": cfg.generator.model, "temperature": cfg.temperature, "top_p": cfg.top_p,
                          "repetition_penalty": cfg.repetition_penalty, "word_bias": cfg.word_bias,
                          "max_tokens": cfg.max_tokens, "seed": self.seed, "prompt_index": ins.index,
                          "candidates": len(gens), "requests": gens[0].attempts}
            if all(g.error and g.error != "empty output" for g in gens):
                doc["text"] = ""
                add_provenance(doc, self.label, "generation_failed", error=gens[0].error, **records[k])
                outcomes[k] = Quarantined(doc, f"generation: {gens[0].error}")
                continue
            candidates = [self._candidate(j, g, lang, ins) for j, (g, lang) in enumerate(zip(gens, prompt_langs))]
            records[k]["attempts"] = [c.attempt() for c in candidates]
            passing[k] = [c for c in candidates if c.passed]
            if not passing[k]:
                shown = representative_failure(candidates)
                self._finish(doc, shown, records[k])
                outcomes[k] = Dropped(doc, shown.reason)
        if cfg.judge is None:
            chosen = {k: first_passing(cands) for k, cands in passing.items() if cands}
            for k, cand in chosen.items():
                self._finish(docs[k], cand, records[k])
        else:
            chosen = self._judge_all(docs, passing, records, outcomes)
        kept = [k for k in chosen if outcomes[k] is None]
        summaries = self._summaries([docs[k] for k in kept]) if cfg.summary else [None] * len(kept)
        for k, summary in zip(kept, summaries):
            doc = docs[k]
            if summary:
                doc["summary"] = summary
            if cfg.output_format == "instruct":
                doc["story"] = doc["text"]
                doc["text"] = instruct_text(doc["text"], doc["instruction_words"], doc["instruction_features"],
                                            summary, self.seed, instructions[k].index)
            outcomes[k] = Kept(doc)
        return outcomes  # type: ignore[return-value]

    def _candidate(self, index: int, gen, lang, ins: Instruction) -> Candidate:
        text = gen.text.strip()
        checks = story_checks(text, gen.finish_reason, ins, story_request(ins, self.cfg.end_marker), self.limits,
                              lang, self.cfg.min_lang_score)
        return Candidate(index, text, lang, checks, drop_reason(checks, text, ins, self.limits, lang),
                         gen.finish_reason, gen.completion_tokens)

    def _finish(self, doc: dict, cand: Candidate, record: dict) -> None:
        """The document carries the chosen (or representative rejected) candidate and the whole attempt."""
        doc["text"] = cand.text
        doc["lang"], doc["lang_score"] = cand.lang
        add_provenance(doc, self.label, "generated", candidate=cand.index, checks=cand.checks,
                       finish_reason=cand.finish_reason, completion_tokens=cand.completion_tokens, **record)

    def _summaries(self, docs: list[dict]) -> list[str | None]:
        if not docs:
            return []
        gens = self._generate(self._backend, [summary_messages(d["text"]) for d in docs],
                              Sampling(max_tokens=80, temperature=0.0, seed=self.seed))
        return [None if g.error or g.finish_reason == "length" else g.text.strip() or None for g in gens]

    def _judge_all(self, docs: Sequence[dict], passing: dict[int, list[Candidate]], records: dict[int, dict],
                   outcomes: list[Outcome | None]) -> dict[int, Candidate]:
        """Grade every passing candidate in one call; per prompt, the best graded one, finished into its
        document (drops set in ``outcomes``)."""
        judge = self.cfg.judge
        graded_items = [(k, c) for k, cands in passing.items() for c in cands]
        if not graded_items:
            return {}
        constraint = self._grade_constraint
        as_json = constraint is not None and constraint.form == "json"
        gens = self._generate(self._judge, [judge_messages(c.text, as_json) for _, c in graded_items],
                              Sampling(max_tokens=judge.max_tokens, temperature=0.0, seed=self.seed), constraint)
        by_prompt: dict[int, list] = {}
        for (k, cand), gen in zip(graded_items, gens):
            by_prompt.setdefault(k, []).append((cand, parse_grades(gen.text), gen))
        model = judge.backend.model if judge.backend else self.cfg.generator.model
        chosen = {}
        for k, graded in by_prompt.items():
            cand, _ = best_graded([(c, g.mean) for c, g, _ in graded])
            _, grades, gen = next(item for item in graded if item[0] is cand)
            doc = docs[k]
            self._finish(doc, cand, records[k])
            doc["judge_scores"] = dict(grades.scores)
            if grades.age_group:
                doc["judge_age_group"] = f"{grades.age_group} ({AGE_GROUPS[grades.age_group]})"
            chosen[k] = cand
            add_provenance(doc, self.label, "judged" if grades.complete else "judge_unparseable", model=model,
                           constraint=constraint.form if constraint else None, reply=gen.text[:500],
                           error=gen.error, mean=grades.mean, candidate=cand.index,
                           graded=[{"candidate": c.index, "mean": g.mean} for c, g, _ in graded])
            if not grades.complete:
                if judge.drop_unparseable:
                    outcomes[k] = Dropped(doc, "judge_unparseable")
            elif judge.min_mean is not None and grades.mean < judge.min_mean:
                outcomes[k] = Dropped(doc, "judge_below_threshold")
        return chosen


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
