"""The ``translationese`` source: clean documents → machine translations (+ a share of clean target text).

Graph (every input record ends kept, dropped or quarantined, all counted
under this source's ledger entry):

    read source paths ──► one job per (record, target language) ─┐
    read clean target-language paths ─────────────────────────────┤
                                                                  ▼
    normalize (same rules as the run's normalize) ──► source docs: language check, optional
    max_docs sample (smallest seeded hash per target, a bounded Top), segment → translate in
    batches → reassemble → MT checks ──► translated rows (synthetic, with lineage)
    ──► clean docs: language check ──► mixed in with probability p so that clean rows are
    about ``clean_fraction`` of the output per target (p from counts computed in Beam)

Lineage on translated rows: ``source_id``, ``src_lang``, ``tgt_lang``,
``mt_model``; ``synthetic`` is true for translations and false for mixed
clean rows, whose provenance says ``mixed_clean``.
"""
from __future__ import annotations

import hashlib
from typing import Literal, Sequence

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome, Quarantined, add_provenance
from transforms.core.runner import ApplyDocStage, StageOutputs
from transforms.core.score_then_cut import Select
from transforms.io.normalize import Normalizer, NormalizeSettings
from transforms.io.readers import ReadInputs
from transforms.quality.language_id import LanguageId
from transforms.synthetic.translationese.checks import MTLimits, translation_problem
from transforms.synthetic.translationese.mt import MTConfig, make_mt_backend, supported_pairs
from transforms.synthetic.translationese.segment import segment

SRC, CLEAN = "src", "clean"


class CleanInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1)
    lang: str = Field(description="the target language these documents are in")
    format: Literal["jsonl", "parquet", "text"] = "jsonl"
    text_field: str = "text"
    id_field: str | None = "id"
    source_field: str | None = "source"
    source: str | None = None


class TranslationeseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["translationese"]
    paths: list[str] = Field(min_length=1, description="clean source-language documents (globs)")
    format: Literal["jsonl", "parquet", "text"] = "jsonl"
    text_field: str = "text"
    id_field: str | None = "id"
    source_field: str | None = "source"
    source: str | None = Field(None, description="source name for input records that carry none")
    src_lang: str = "en"
    tgt_langs: list[str] = Field(default_factory=lambda: ["pt"], min_length=1)
    output_source: str = Field("translationese", description="`source` of translated rows")
    max_docs: int | None = Field(None, gt=0, description="translate at most this many source documents per target")
    mt: MTConfig = Field(default_factory=MTConfig)
    max_segment_chars: int = Field(1000, ge=20)
    min_src_lang_score: float = Field(0.5, ge=0, le=1)
    min_length_ratio: float = Field(0.5, gt=0)
    max_length_ratio: float = Field(2.0, gt=0)
    min_tgt_lang_score: float = Field(0.5, ge=0, le=1)
    clean: list[CleanInput] = Field(default_factory=list, description="clean target-language documents to mix in")
    clean_fraction: float = Field(0.1, ge=0, lt=1, description="share of clean rows in each target's output")
    batch_size: int = Field(8, ge=1, description="documents per MT batch")

    @model_validator(mode="after")
    def _supported(self):
        pairs = supported_pairs(self.mt)
        for tgt in self.tgt_langs:
            if (self.src_lang, tgt) not in pairs:
                raise ValueError(f"mt.kind {self.mt.kind!r} cannot translate {self.src_lang}->{tgt}; "
                                 f"supported: {sorted(pairs)}")
        for c in self.clean:
            if c.lang not in self.tgt_langs:
                raise ValueError(f"clean input language {c.lang!r} is not one of tgt_langs {self.tgt_langs}")
        if self.min_length_ratio >= self.max_length_ratio:
            raise ValueError("min_length_ratio must be below max_length_ratio")
        return self

    def limits(self) -> MTLimits:
        return MTLimits(self.min_length_ratio, self.max_length_ratio, self.min_tgt_lang_score)


def unit_hash(seed: int, salt: str, key: str) -> float:
    """A stable number in [0, 1) per (seed, salt, key): the same choice on any worker and any rerun."""
    digest = hashlib.blake2b(f"{seed}:{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


class _ReadDocs(DocProcessor):
    """The run's normalize rules per input, keeping this source's routing tags (``_role``, ``_tgt``)."""

    def __init__(self, settings: list[NormalizeSettings]):
        self._normalizers = [Normalizer(s) for s in settings]

    def process(self, raw: dict) -> Outcome:
        outcome = self._normalizers[raw["_input"]].process(raw)
        outcome.doc.update(_role=raw["_role"], _tgt=raw["_tgt"])
        return outcome


class _CheckClean(DocProcessor):
    """Clean documents must be in their declared target language (fastText, ``language_id`` rule)."""

    batch_size = 64

    def __init__(self, min_score: float):
        self._lid = LanguageId(languages=[], min_score=min_score)
        self.min_score = min_score

    def setup(self) -> None:
        self._lid.setup()

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        out: list[Outcome] = []
        for doc, (lang, score) in zip(docs, self._lid.predict([d["text"] for d in docs])):
            doc["lang"], doc["lang_score"] = lang, score
            if lang != doc["_tgt"]:
                out.append(Dropped(doc, f"clean_wrong_lang:{lang}"))
            elif not score > self.min_score:
                out.append(Dropped(doc, "clean_lang_low_score"))
            else:
                doc["synthetic"] = False
                out.append(Kept(doc))
        return out


class DocTranslator(DocProcessor):
    """Source-language check, segmentation, one MT call per batch and target, reassembly, MT checks."""

    def __init__(self, label: str, cfg: TranslationeseConfig):
        self.label = label
        self.cfg = cfg
        self.batch_size = self.min_batch_size = cfg.batch_size
        self._lid = LanguageId(languages=[], min_score=0.0)
        self._mt = None

    def setup(self) -> None:
        self._lid.setup()
        self._mt = make_mt_backend(self.cfg.mt)

    def teardown(self) -> None:
        if self._mt is not None:
            self._mt.close()
            self._mt = None

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        if self._mt is None:
            self.setup()
        cfg = self.cfg
        outcomes: list[Outcome | None] = [None] * len(docs)
        jobs: dict[str, list[int]] = {}
        for k, (doc, (lang, score)) in enumerate(zip(docs, self._lid.predict([d["text"] for d in docs]))):
            if lang != cfg.src_lang:
                outcomes[k] = Dropped(doc, f"src_lang:{lang}")
            elif not score > cfg.min_src_lang_score:
                outcomes[k] = Dropped(doc, "src_lang_low_score")
            else:
                jobs.setdefault(doc["_tgt"], []).append(k)
        for tgt, members in jobs.items():
            for k, outcome in zip(members, self._translate([docs[k] for k in members], tgt)):
                outcomes[k] = outcome
        return outcomes  # type: ignore[return-value]

    def _translate(self, docs: list[dict], tgt: str) -> list[Outcome]:
        cfg = self.cfg
        segmented = [segment(d["text"], cfg.src_lang, cfg.max_segment_chars) for d in docs]
        flat = [s for seg in segmented for s in seg.segments]
        results = self._mt.translate(flat, cfg.src_lang, tgt) if flat else []
        model = self._mt.model_name(cfg.src_lang, tgt)
        texts, outcomes, i = [], [], 0
        for seg in segmented:
            mine = results[i:i + len(seg.segments)]
            i += len(seg.segments)
            errors = [r.error for r in mine if r.error]
            texts.append(None if errors else seg.reassemble([r.text for r in mine]))
            outcomes.append((seg, mine, errors))
        langs = iter(self._lid.predict([t for t in texts if t is not None]))
        out: list[Outcome] = []
        for doc, text, (seg, mine, errors) in zip(docs, texts, outcomes):
            detail = {"mt_model": model, "segments": len(seg.segments), "paragraphs": len(seg.paragraphs),
                      "src_tokens": self._mt.count_tokens(seg.segments, cfg.src_lang, tgt),
                      "retried_segments": sum(1 for r in mine if r.attempts > 1), "tgt_lang": tgt}
            if errors:
                add_provenance(doc, self.label, "mt_failed", errors=errors[:3], **detail)
                out.append(Quarantined(doc, f"mt: {errors[0]}"))
                continue
            lang = next(langs)
            translated = {
                **{k: v for k, v in doc.items() if k not in ("lang", "lang_score")},
                "id": f"{doc['id']}.{tgt}",
                "text": text,
                "source": cfg.output_source,
                "lang": lang[0],
                "lang_score": lang[1],
                "synthetic": True,
                "source_id": doc["id"],
                "src_lang": cfg.src_lang,
                "tgt_lang": tgt,
                "mt_model": model,
            }
            add_provenance(translated, self.label, "translated", original_source=doc.get("source"), **detail)
            problem = translation_problem(doc["text"], text, lang, tgt, cfg.limits())
            out.append(Dropped(translated, problem) if problem else Kept(translated))
        return out


def mix_probability(tgt: str, fraction: float, translated: dict, clean: dict) -> float:
    """Clean rows wanted = fraction/(1-fraction) x translated rows; each available one is kept with this p."""
    wanted = fraction / (1 - fraction) * translated.get(tgt, 0)
    available = clean.get(tgt, 0)
    return min(1.0, wanted / available) if available else 0.0


class TranslationeseSource(beam.PTransform):
    """PBegin → StageOutputs; ``inputs`` are the input records, one per target language."""

    def __init__(self, label: str, cfg: TranslationeseConfig, settings: NormalizeSettings, seed: int,
                 max_line_bytes: int):
        super().__init__(label)
        self._label, self._cfg, self._seed, self._max_line = label, cfg, seed, max_line_bytes
        inputs = [cfg] + list(cfg.clean)
        self._settings = [
            NormalizeSettings(text_field=i.text_field, id_field=i.id_field, source_field=i.source_field,
                              default_source=i.source, max_bytes=settings.max_bytes,
                              unicode_form=settings.unicode_form)
            for i in inputs
        ]

    def expand(self, pbegin):
        cfg, label, seed = self._cfg, self._label, self._seed
        raw_parts = [
            pbegin
            | "ReadSource" >> ReadInputs(cfg.paths, cfg.format, self._max_line)
            | "PerTarget" >> beam.FlatMap(lambda r: [{**r, "_input": 0, "_role": SRC, "_tgt": t} for t in cfg.tgt_langs])
        ]
        for i, clean in enumerate(cfg.clean, start=1):
            raw_parts.append(
                pbegin
                | f"ReadClean[{i}]" >> ReadInputs(clean.paths, clean.format, self._max_line)
                | f"TagClean[{i}]" >> beam.Map(lambda r, i=i, lang=clean.lang: {**r, "_input": i, "_role": CLEAN, "_tgt": lang})
            )
        raw = raw_parts | "AllInputs" >> beam.Flatten()
        read = raw | "Read" >> ApplyDocStage(f"{label}.read", _ReadDocs(self._settings))
        src, clean = read.kept | "ByRole" >> beam.Partition(lambda d, _: 0 if d["_role"] == SRC else 1, 2)
        steps = [read]

        if cfg.max_docs is not None:
            chosen = (
                src
                | "Rank" >> beam.Map(lambda d: (d["_tgt"], (unit_hash(seed, "sample", d["id"]), d["id"])))
                | "Smallest" >> beam.combiners.Top.SmallestPerKey(cfg.max_docs)
                | "Chosen" >> beam.MapTuple(lambda tgt, ranked: (tgt, frozenset(i for _, i in ranked)))
            )
            sampled = src | "Sample" >> Select(
                f"{label}.sample", lambda d, chosen: d["id"] in chosen.get(d["_tgt"], ()), "not_sampled",
                side={"chosen": beam.pvalue.AsDict(chosen)})
            src = sampled.kept
            steps.append(sampled)

        mt = src | "Translate" >> ApplyDocStage(f"{label}.mt", DocTranslator(f"{label}.mt", cfg))
        steps.append(mt)
        kept = [mt.kept]
        stats = None

        if cfg.clean:
            checked = clean | "CheckClean" >> ApplyDocStage(f"{label}.clean", _CheckClean(cfg.min_tgt_lang_score))
            steps.append(checked)
            translated_n = mt.kept | "TranslatedPerTgt" >> beam.Map(lambda d: (d["tgt_lang"], 1)) | "SumT" >> beam.CombinePerKey(sum)
            clean_n = checked.kept | "CleanPerTgt" >> beam.Map(lambda d: (d["_tgt"], 1)) | "SumC" >> beam.CombinePerKey(sum)
            fraction = cfg.clean_fraction

            def keep_clean(d, translated, available):
                p = mix_probability(d["_tgt"], fraction, translated, available)
                return unit_hash(seed, "mix", d["id"]) < p

            mixed = checked.kept | "Mix" >> Select(
                f"{label}.mix", keep_clean, "not_mixed", action="mixed_clean",
                side={"translated": beam.pvalue.AsDict(translated_n), "available": beam.pvalue.AsDict(clean_n)})
            steps.append(mixed)
            kept.append(mixed.kept)
            mixed_n = mixed.kept | "MixedPerTgt" >> beam.Map(lambda d: (d["_tgt"], 1)) | "SumM" >> beam.CombinePerKey(sum)
            stats = (
                pbegin
                | "MixStatSeed" >> beam.Create([None])
                | "MixStat" >> beam.Map(
                    lambda _, t, c, m: ("mix", {tgt: {"translated": t.get(tgt, 0), "clean_available": c.get(tgt, 0),
                                                      "clean_mixed": m.get(tgt, 0), "clean_fraction_target": fraction,
                                                      "p": round(mix_probability(tgt, fraction, t, c), 6)}
                                                for tgt in cfg.tgt_langs}),
                    beam.pvalue.AsDict(translated_n), beam.pvalue.AsDict(clean_n), beam.pvalue.AsDict(mixed_n))
            )
        return StageOutputs(
            kept | "AllKept" >> beam.Flatten(),
            [s.dropped for s in steps] | "AllDropped" >> beam.Flatten(),
            [s.quarantined for s in steps] | "AllQuarantined" >> beam.Flatten(),
            stats=stats,
            inputs=raw,
        )
