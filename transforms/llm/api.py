"""The one generation interface every LLM stage uses (ProX, perplexity, synthetic data, judges).

Public surface (stable; other stages depend on it):

    Sampling(max_tokens=256, temperature=0.0, top_p=1.0, seed=None, stop=None)
    Generation(text, prompt_tokens, completion_tokens, finish_reason, error=None, attempts=1)
    Scored(token_ids, logprobs, error=None)   # logprobs[0] is None (first token has no context)
    Prompt = str | list[{"role", "content"}]     # raw text, or chat messages (model's template)

    backend.generate(prompts: Sequence[Prompt], sampling: Sampling) -> list[Generation]
    backend.score(texts: Sequence[str]) -> list[Scored]
    backend.tokenize(text) -> list[int];  backend.detokenize(ids) -> str
    backend.close()                       # idempotent; no engine process survives it

    BackendConfig(kind="vllm"|"openai", model=..., ...)   # pydantic, extra="forbid"
    make_backend(config, config_dir=None) -> GenerationBackend   # transforms.llm.backends

Results are index-aligned with the inputs and ``generate``/``score`` never raise
for a bad item: timeouts, empty outputs and engine errors are retried
``max_retries`` times, then the item comes back with ``error`` set so the caller
keeps the document unchanged and records the error (nothing is lost).

Backends, each in its own module and imported only when ``make_backend``
(``transforms.llm.backends``) picks it
(a stage that talks HTTP never imports vLLM):
- ``transforms.llm.vllm_engine.VLLMBackend``: vLLM's offline engine in the worker.
- ``transforms.llm.openai_http.OpenAIBackend``: any OpenAI-compatible server.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field

Prompt = Union[str, list]


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] | None = None


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    error: str | None = None
    attempts: int = 1


@dataclass
class Scored:
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float | None] = field(default_factory=list)
    error: str | None = None


class BackendConfig(BaseModel):
    """How to reach a model. ``model`` is a local HF directory (vllm) or a served name (openai)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["vllm", "openai"] = "vllm"
    model: str = "smollm2-135m-instruct"
    max_retries: int = Field(2, ge=0)
    # vllm
    max_model_len: int = Field(4096, ge=64)
    dtype: str = "float32"
    gpu_memory_utilization: float = Field(0.5, gt=0, le=1)
    cpu_threads_bind: str | None = None  # VLLM_CPU_OMP_THREADS_BIND; default "0-(n-1)"
    enforce_eager: bool | None = None  # default: True on CPU, False on GPU
    # openai
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(120.0, gt=0)
    concurrency: int = Field(8, ge=1)
    tokenizer: str | None = None  # local HF tokenizer dir; default: the server's /tokenize


class GenerationBackend:
    """Interface; see the module docstring."""

    max_retries: int = 2

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[Generation]:
        raise NotImplementedError

    def score(self, texts: Sequence[str]) -> list[Scored]:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[int]:
        raise NotImplementedError

    def detokenize(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Release engine processes / connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def resolve_model(model: str, config_dir: str | None = None) -> str:
    """A bare prepared-model name → its directory under ``models_dir()``; a relative path → config_dir."""
    from transforms.llm.models import model_path

    candidate = Path(model)
    if candidate.is_absolute() and candidate.exists():
        return str(candidate)
    if config_dir and (Path(config_dir) / model).exists():
        return str(Path(config_dir) / model)
    if candidate.exists():
        return str(candidate.resolve())
    prepared = model_path(model)
    if prepared.exists():
        return str(prepared)
    raise FileNotFoundError(
        f"model {model!r} not found (looked in {config_dir or '.'} and {prepared.parent}); "
        f"run `corpusmill models prepare` first"
    )


def describe_error(exc: BaseException) -> str:
    """The text an item's ``error`` carries: exception type and message."""
    return f"{type(exc).__name__}: {exc}"
