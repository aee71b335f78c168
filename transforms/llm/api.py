"""The one generation interface every LLM stage uses (ProX, perplexity, synthetic data, judges).

Public surface (stable; other stages depend on it):

    Sampling(max_tokens=256, temperature=0.0, top_p=1.0, seed=None, stop=None, n=1,
             repetition_penalty=1.0, logit_bias=None)   # or one Sampling per prompt
    Generation(text, prompt_tokens, completion_tokens, finish_reason, error=None, attempts=1)
    Scored(token_ids, logprobs, error=None)   # logprobs[0] is None (first token has no context)
    Prompt = str | list[{"role", "content"}]     # raw text, or chat messages (model's template)

    Constraint(grammar=… | regex=… | choice=(…) | json=schema)   # decode only matching text
    backend.generate(prompts: Sequence[Prompt], sampling: Sampling,
                     constraints: Constraint | Sequence[Constraint | None] | None = None) -> list[Generation]
    backend.sample(prompts, sampling, constraints) -> list[list[Generation]]   # sampling.n candidates per prompt
    backend.score(texts: Sequence[str]) -> list[Scored]
    backend.tokenize(text) -> list[int];  backend.detokenize(ids) -> str
    backend.close()                       # idempotent; no engine process survives it

    BackendConfig(kind="vllm"|"openai", model=..., ...)   # pydantic, extra="forbid"
    make_backend(config, config_dir=None) -> GenerationBackend   # transforms.llm.backends

``sample`` asks for ``sampling.n`` completions of each prompt in one request
(vLLM's ``n``: the prompt is prefilled once and its KV cache shared), for
stages that over-generate and keep what passes their checks; ``generate`` is
``sample`` with ``n == 1``.

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
    n: int = 1  # completions per prompt (``sample``)
    repetition_penalty: float = 1.0  # vLLM's: > 1 discourages tokens already in the prompt or output
    logit_bias: tuple[tuple[int, float], ...] | None = None  # (token id, bias added to its logit)

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"Sampling.n must be at least 1, got {self.n}")


CONSTRAINT_FORMS = ("grammar", "regex", "choice", "json")


@dataclass(frozen=True)
class Constraint:
    """Decode only text that matches exactly one of: a grammar (EBNF/GBNF as xgrammar reads it, or Lark
    as llguidance does), a regular expression, one string of a choice list, or a JSON schema.

    Tokens are masked while decoding (vLLM's structured outputs), so the output
    matches by construction unless ``max_tokens`` cuts it (``finish_reason == "length"``).
    """

    grammar: str | None = None
    regex: str | None = None
    choice: tuple[str, ...] | None = None
    json: dict | str | None = field(default=None, hash=False)

    def __post_init__(self):
        given = [f for f in CONSTRAINT_FORMS if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(f"a Constraint takes exactly one of {CONSTRAINT_FORMS}, got {given or 'none'}")

    @property
    def form(self) -> str:
        return next(f for f in CONSTRAINT_FORMS if getattr(self, f) is not None)

    def fields(self) -> dict:
        """``{form: value}``: the keys of vLLM's ``StructuredOutputsParams`` and of its server's
        ``structured_outputs`` request field."""
        value = getattr(self, self.form)
        return {self.form: list(value) if self.form == "choice" else value}


def constraints_for(prompts: Sequence, constraints) -> list[Constraint | None]:
    """One constraint (or None) per prompt, from None, one Constraint, or a list aligned with the prompts."""
    if constraints is None or isinstance(constraints, Constraint):
        return [constraints] * len(prompts)
    constraints = list(constraints)
    if len(constraints) != len(prompts):
        raise ValueError(f"{len(constraints)} constraints for {len(prompts)} prompts")
    return constraints


def samplings_for(prompts: Sequence, sampling) -> list[Sampling]:
    """One Sampling per prompt, from one Sampling for all or a list aligned with the prompts."""
    if isinstance(sampling, Sampling):
        return [sampling] * len(prompts)
    sampling = list(sampling)
    if len(sampling) != len(prompts):
        raise ValueError(f"{len(sampling)} samplings for {len(prompts)} prompts")
    return sampling


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
    server: Literal["vllm", "other"] = "vllm"  # vllm: its structured_outputs field; other: JSON schema only

    def constraint_forms(self) -> tuple[str, ...]:
        """The ``Constraint`` forms this backend can decode under (a stage that needs another fails at config load)."""
        if self.kind == "openai" and self.server == "other":
            return ("json",)
        return CONSTRAINT_FORMS


class GenerationBackend:
    """Interface; see the module docstring."""

    max_retries: int = 2

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling],
                 constraints: Constraint | Sequence[Constraint | None] | None = None) -> list[Generation]:
        """One completion per prompt."""
        if any(s.n != 1 for s in samplings_for(prompts, sampling)):
            raise ValueError("generate returns one completion per prompt; use sample() for n > 1")
        return [candidates[0] for candidates in self.sample(prompts, sampling, constraints)]

    def sample(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling],
               constraints: Constraint | Sequence[Constraint | None] | None = None) -> list[list[Generation]]:
        """``sampling.n`` completions per prompt (each prompt's list has exactly n entries).

        A prompt is retried (up to ``max_retries``) only when every candidate is
        empty or the call failed; a failed call gives n entries with ``error`` set.
        """
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
