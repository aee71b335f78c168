"""Which backend a ``BackendConfig`` names: kept apart from ``api`` so the interface imports no backend.

Each backend is imported only when picked (a stage that talks HTTP never imports vLLM).
"""
from __future__ import annotations

import os

from transforms.llm.api import BackendConfig, GenerationBackend, resolve_model


def make_backend(config: BackendConfig, config_dir: str | None = None, seed: int = 0) -> GenerationBackend:
    """The backend ``config.kind`` names, its model resolved against ``config_dir``."""
    if config.kind == "vllm":
        from transforms.llm.vllm_engine import VLLMBackend

        return VLLMBackend(resolve_model(config.model, config_dir), max_model_len=config.max_model_len,
                           dtype=config.dtype, gpu_memory_utilization=config.gpu_memory_utilization,
                           cpu_threads_bind=config.cpu_threads_bind, enforce_eager=config.enforce_eager,
                           max_retries=config.max_retries, seed=seed)
    from transforms.llm.openai_http import OpenAIBackend

    tokenizer = resolve_model(config.tokenizer, config_dir) if config.tokenizer else None
    return OpenAIBackend(config.base_url, config.model, api_key=os.environ.get(config.api_key_env),
                         timeout_s=config.timeout_s, concurrency=config.concurrency,
                         max_retries=config.max_retries, tokenizer=tokenizer, server=config.server)
