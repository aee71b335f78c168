"""The packing tokenizer: which ``tokenizer.json`` and end-of-document token a run uses, and encoding with it.

The driver resolves the tokenizer once (a bundled model name, a directory or
a ``tokenizer.json``, local or on any Beam filesystem) and records its sha256;
each worker loads the same bytes and refuses different ones, so the manifest
names exactly the tokenizer that produced the buckets. Encoding is the
``tokenizers`` library's batch encoding; nothing here tokenizes by itself.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from apache_beam.io.filesystems import FileSystems

# The document separator of GPT-2-style vocabularies (SmolLM2's id 0). SmolLM2-Instruct's
# tokenizer_config names <|im_end|> as eos: a chat-turn end, not a document end.
DOCUMENT_END = "<|endoftext|>"


class TokenizerError(ValueError):
    """The configured tokenizer or end-of-document token cannot be used; the message says why."""


@dataclass(frozen=True)
class PackingTokenizer:
    name: str
    path: str
    sha256: str
    eos_token: str | None
    eos_id: int | None

    def as_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "sha256": self.sha256,
                "eos_token": self.eos_token, "eos_id": self.eos_id}


def _read(path: str) -> bytes:
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        return fh.read()


def _tokenizer_file(spec: str | None) -> tuple[str, str]:
    """``(name, path of tokenizer.json)``: a bundled model's (prepared once), a directory's, or the file."""
    from transforms.core.paths import is_remote
    from transforms.outputs.token_counter import resolve_tokenizer_file

    if spec and is_remote(spec):
        path = spec if spec.endswith(".json") else FileSystems.join(spec, "tokenizer.json")
        if not FileSystems.exists(path):
            raise TokenizerError(f"tokenizer {spec!r}: no tokenizer.json at {path}")
        return spec, path
    try:
        return resolve_tokenizer_file(spec)
    except FileNotFoundError as exc:
        raise TokenizerError(str(exc)) from None


def _configured_eos(tokenizer_json: str) -> str | None:
    """``eos_token`` of the ``tokenizer_config.json`` beside a tokenizer file, if there is one."""
    config = tokenizer_json.rsplit("/", 1)[0] + "/tokenizer_config.json"
    if not FileSystems.exists(config):
        return None
    eos = json.loads(_read(config)).get("eos_token")
    return eos.get("content") if isinstance(eos, dict) else eos


def resolve_tokenizer(spec: str | None, eos: bool, eos_token: str | None) -> PackingTokenizer:
    """What the run will tokenize with; a ``TokenizerError`` before anything runs when it cannot.

    With ``eos`` and no ``eos_token``, the end-of-document token is
    ``<|endoftext|>`` when the vocabulary has it, else the ``eos_token`` of a
    ``tokenizer_config.json`` beside the file.
    """
    from tokenizers import Tokenizer

    name, path = _tokenizer_file(spec)
    data = _read(path)
    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one clear message
        raise TokenizerError(f"tokenizer {path}: not a tokenizers tokenizer.json ({exc})") from None
    token = eos_id = None
    if eos:
        token = eos_token or (DOCUMENT_END if tokenizer.token_to_id(DOCUMENT_END) is not None
                              else _configured_eos(path))
        if token is None:
            raise TokenizerError(f"tokenizer {path}: has no {DOCUMENT_END} and no tokenizer_config.json eos_token; "
                                 f"set output.packing.eos_token or eos: false")
        eos_id = tokenizer.token_to_id(token)
        if eos_id is None:
            raise TokenizerError(f"tokenizer {path}: eos_token {token!r} is not in its vocabulary")
    return PackingTokenizer(name, path, hashlib.sha256(data).hexdigest(), token, eos_id)


class DocumentEncoder:
    """Token ids of whole documents (the text's own tokens, then the end-of-document id)."""

    def __init__(self, source: PackingTokenizer):
        from tokenizers import Tokenizer

        data = _read(source.path)
        found = hashlib.sha256(data).hexdigest()
        if found != source.sha256:
            raise TokenizerError(f"tokenizer {source.path} changed during the run "
                                 f"(sha256 {found[:12]}…, the run resolved {source.sha256[:12]}…)")
        self._tokenizer = Tokenizer.from_str(data.decode("utf-8"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._eos = source.eos_id

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        if self._eos is None:
            return [np.asarray(e.ids, dtype=np.int32) for e in encodings]
        return [np.asarray(e.ids + [self._eos], dtype=np.int32) for e in encodings]


_RESOLVED: dict[tuple, PackingTokenizer] = {}


def tokenizer_for(spec) -> PackingTokenizer:
    """``resolve_tokenizer`` for an ``output.packing`` config, once per process (preflight, build, manifest)."""
    key = (spec.tokenizer, spec.eos, spec.eos_token)
    if key not in _RESOLVED:
        _RESOLVED[key] = resolve_tokenizer(*key)
    return _RESOLVED[key]
