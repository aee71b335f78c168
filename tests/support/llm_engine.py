"""The session's shared SmolLM2 engine (fixture ``smollm2_engine`` in ``tests/conftest.py``).

Backends with equal engine settings in one process share one vLLM engine
(``transforms/llm/vllm_engine.py``), so every in-process SmolLM2 test that uses
``SMOLLM2_ENGINE_SETTINGS`` (through ``SharedEngine.backend_config``) runs on the
one engine the session starts, instead of starting its own (~20-60 s each here).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

from tests.support.llm_processes import live_descendants, new_descendants_after_grace

SMOLLM2_ENGINE_SETTINGS = {"max_model_len": 2048}


@dataclass
class SharedEngine:
    """The session's SmolLM2 engine; ``backend`` holds the session's reference to it."""

    model: str
    backend: object  # VLLMBackend

    def backend_config(self, **extra) -> dict:
        """A stage's ``backend:`` mapping whose engine settings match, so the stage shares this engine."""
        return {"model": self.model, **SMOLLM2_ENGINE_SETTINGS, **extra}

    def info(self) -> dict:
        """This engine's entry in the registry (``refs``, ``acquired``, ``pids``)."""
        from transforms.llm.vllm_engine import live_engines

        [info] = [e for e in live_engines() if e["pids"] == self.backend.engine_pids]
        return info

    def assert_running(self) -> None:
        running = {p.pid for p in live_descendants()}
        assert self.backend.engine_pids and set(self.backend.engine_pids) <= running, "the session engine died"

    @contextlib.contextmanager
    def shared_by(self, min_references: int = 1):
        """Asserts that the block started no engine, took at least ``min_references`` references to this
        one (its backends shared it) and released all of them, and left no new process behind.

        This stands in for "no engine process outlives the pipeline" in tests whose run shares the
        session's engine: the run's engine is this one, and it must survive the run. Runs that start
        and stop an engine of their own are checked in tests/llm/test_llm_vllm.py.
        """
        from transforms.llm.vllm_engine import engines_started

        before, starts = self.info(), engines_started()
        baseline = {p.pid for p in live_descendants()}
        yield
        after = self.info()
        assert engines_started() == starts, "the block started an engine of its own instead of sharing"
        assert after["acquired"] - before["acquired"] >= min_references, "the block never used the shared engine"
        assert after["refs"] == before["refs"], "the block's backends did not release their references"
        assert new_descendants_after_grace(baseline, grace_s=5) == []
        self.assert_running()
