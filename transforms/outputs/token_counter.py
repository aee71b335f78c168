"""Token counts (release cards and changelogs, ICP context lengths), with a configurable tokenizer.

The tokenizer is a Hugging Face ``tokenizer.json`` loaded with the
``tokenizers`` library (no model, no network). The offline default is
SmolLM2's tokenizer from the directory ``corpusmill models prepare`` writes;
any other tokenizer directory or ``tokenizer.json`` file can be named instead.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

DEFAULT_TOKENIZER = "smollm2-135m-instruct"
_BATCH = 256


@dataclass(frozen=True)
class TokenizerInfo:
    name: str
    path: str
    sha256: str

    def as_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "sha256": self.sha256}


def resolve_tokenizer_file(spec: str | None) -> tuple[str, str]:
    """``(name, path to tokenizer.json)`` for a bundled model name, a directory or a file."""
    from transforms.llm.models import BUNDLED_MODELS, prepare_tokenizer

    spec = spec or DEFAULT_TOKENIZER
    if spec in BUNDLED_MODELS:
        return spec, os.path.join(str(prepare_tokenizer(spec)), "tokenizer.json")
    path = os.path.join(spec, "tokenizer.json") if os.path.isdir(spec) else spec
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tokenizer {spec!r}: no tokenizer.json at {path}")
    return os.path.basename(os.path.dirname(os.path.abspath(path))) if os.path.isdir(spec) else spec, path


class TokenCounter:
    """Count tokens of texts (no special tokens added: the text's own length)."""

    def __init__(self, spec: str | None = None):
        from tokenizers import Tokenizer

        name, path = resolve_tokenizer_file(spec)
        with open(path, "rb") as fh:
            data = fh.read()
        self.info = TokenizerInfo(name=name, path=path, sha256=hashlib.sha256(data).hexdigest())
        self.path = path
        self._tokenizer = Tokenizer.from_str(data.decode("utf-8"))
        # a tokenizer.json may carry the model's truncation/padding (MiniLM: 128): count the whole text
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, texts) -> list[int]:
        texts = list(texts)
        counts: list[int] = []
        for start in range(0, len(texts), _BATCH):
            encodings = self._tokenizer.encode_batch(texts[start:start + _BATCH], add_special_tokens=False)
            counts.extend(len(e.ids) for e in encodings)
        return counts
