"""``OpenAIBackend``: any OpenAI-compatible HTTP server (e.g. ``vllm serve``).

Timeouts, retries with backoff and a concurrency limit; the standard library's
HTTP client is enough for four JSON endpoints, so no SDK dependency.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
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


class OpenAIBackend(GenerationBackend):
    """An OpenAI-compatible HTTP server (``/v1/completions``, ``/v1/chat/completions``).

    Requests run on a thread pool of ``concurrency`` workers; each is retried on
    timeouts, connection errors, 429/5xx and empty output, with exponential backoff.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 120.0,
                 concurrency: int = 8, max_retries: int = 2, tokenizer: str | None = None, backoff_s: float = 0.5,
                 server: str = "vllm"):
        self.base_url = base_url.rstrip("/")
        self.server = server
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
                error = describe_error(exc)
            if attempt <= self.max_retries:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return None, error, self.max_retries + 1

    def _one(self, prompt: Prompt, sampling: Sampling, constraint: Constraint | None = None) -> list[Generation]:
        body = {"model": self.model, "max_tokens": sampling.max_tokens, "temperature": sampling.temperature,
                "top_p": sampling.top_p}
        if sampling.n > 1:
            body["n"] = sampling.n
        if sampling.repetition_penalty != 1.0:
            body["repetition_penalty"] = sampling.repetition_penalty  # vLLM's server extension
        if sampling.logit_bias:
            body["logit_bias"] = {str(token): bias for token, bias in sampling.logit_bias}
        if constraint is not None:
            body.update(self._constraint_fields(constraint))
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        chat = not isinstance(prompt, str)
        body["messages" if chat else "prompt"] = prompt

        def call():
            data = self._post("/chat/completions" if chat else "/completions", body)
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            if len(choices) != sampling.n:
                raise ValueError(f"asked for {sampling.n} choices, the server returned {len(choices)}")
            texts = [(c["message"]["content"] if chat else c["text"]) or "" for c in choices]
            usage = data.get("usage") or {}
            gens = [Generation(text, usage.get("prompt_tokens", 0), 0, c.get("finish_reason"))
                    for text, c in zip(texts, choices)]
            for gen, tokens in zip(gens, _apportion(usage.get("completion_tokens", 0), texts)):
                gen.completion_tokens = tokens
            if not any(t.strip() for t in texts):
                # Greedy decoding is deterministic: retrying an empty greedy output cannot help.
                if sampling.temperature > 0:
                    raise ValueError("empty output")
                for gen in gens:
                    gen.error = "empty output"
            return gens

        gens, error, attempts = self._with_retries(call)
        if gens is None:
            return [Generation("", finish_reason="error", error=error, attempts=attempts) for _ in range(sampling.n)]
        for gen in gens:
            gen.attempts = attempts
        return gens

    def _constraint_fields(self, constraint: Constraint) -> dict:
        """vLLM's server takes ``structured_outputs`` (the offline engine's fields); another server only a
        JSON schema, as OpenAI's ``response_format``."""
        if self.server == "vllm":
            return {"structured_outputs": constraint.fields()}
        if constraint.form != "json":
            raise ValueError(f"a {constraint.form} constraint needs server: vllm")
        return {"response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": constraint.json}}}

    def sample(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling],
               constraints: Constraint | Sequence[Constraint | None] | None = None) -> list[list[Generation]]:
        per_prompt = constraints_for(prompts, constraints)
        samplings = samplings_for(prompts, sampling)
        return list(self._pool.map(lambda psc: self._one(*psc), zip(prompts, samplings, per_prompt)))

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


def _apportion(total: int, texts: Sequence[str]) -> list[int]:
    """Per-choice completion tokens: the server's ``usage`` gives only the request's total, so it is split
    by each choice's share of the characters (the sum stays exact; one choice gets all of it)."""
    if len(texts) == 1:
        return [total]
    chars = [len(t) for t in texts]
    whole = sum(chars) or len(texts)
    shares = [total * (c if sum(chars) else 1) // whole for c in chars]
    shares[max(range(len(texts)), key=lambda k: chars[k])] += total - sum(shares)
    return shares
