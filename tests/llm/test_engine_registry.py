"""The process's vLLM engine registry (transforms/llm/vllm_engine.py) with a stand-in for ``vllm.LLM``.

Fast: the stand-in starts a real child process (as the engine core is) and stops it
on ``shutdown()``, so sharing, reference counting and "the last close stops the
engine and its process" are checked without a model. Each test gets an empty
registry of its own, so the session's real engine (if one runs) is never touched.
The real engine's sharing is checked in tests/llm/test_llm_vllm.py.
"""
from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
import types

import pytest

from transforms.llm import vllm_engine
from transforms.llm.api import BackendConfig, Sampling
from transforms.llm.backends import make_backend
from transforms.llm.vllm_engine import VLLMBackend, engines_started, live_engines


class FakeTokenizer:
    bos_token_id = 1

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "\n".join(m["content"] for m in messages)


class FakeLLM:
    """Records its arguments and every call; ``shutdown()`` ends its child process."""

    instances: list["FakeLLM"] = []
    start_delay_s = 0.0

    def __init__(self, **kwargs):
        time.sleep(self.start_delay_s)
        self.kwargs = kwargs
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        self.active = self.max_active = 0
        self.llm_engine = types.SimpleNamespace(engine_core=types.SimpleNamespace(shutdown=self.proc.terminate))
        FakeLLM.instances.append(self)

    def get_tokenizer(self):
        return FakeTokenizer()

    def generate(self, prompts, params, use_tqdm=False):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        time.sleep(0.05)
        self.active -= 1
        return [types.SimpleNamespace(prompt_token_ids=[1, 2], prompt_logprobs=None,
                                      outputs=[types.SimpleNamespace(text="ok", token_ids=[3], finish_reason="stop")])
                for _ in prompts]


@pytest.fixture()
def fake_vllm(monkeypatch, tmp_path):
    """An empty registry and a stand-in ``vllm`` module; yields a model directory."""
    FakeLLM.instances = []
    FakeLLM.start_delay_s = 0.0
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=FakeLLM, SamplingParams=lambda **kw: kw))
    monkeypatch.setattr(vllm_engine, "_ENGINES", {})
    monkeypatch.setattr(vllm_engine, "_STARTS", 0)
    model = tmp_path / "model"
    model.mkdir()
    yield str(model)
    vllm_engine._close_live_engines()  # whatever a failed test left open
    for llm in FakeLLM.instances:
        llm.proc.kill()
        llm.proc.wait()


def _running(llm: FakeLLM) -> bool:
    return llm.proc.poll() is None


def test_equal_settings_share_one_engine_until_the_last_close(fake_vllm):
    a = make_backend(BackendConfig(model=fake_vllm, max_model_len=1024, max_retries=0))
    b = VLLMBackend(fake_vllm, max_model_len=1024, max_retries=3)
    [llm] = FakeLLM.instances
    assert engines_started() == 1 and a._llm is b._llm is llm
    assert a.engine_pids == b.engine_pids == [llm.proc.pid]
    assert (a.max_retries, b.max_retries) == (0, 3)
    [entry] = live_engines()
    assert (entry["refs"], entry["acquired"], entry["key"]["max_model_len"]) == (2, 2, 1024)

    a.close()
    a.close()  # idempotent: one reference released
    assert live_engines()[0]["refs"] == 1 and _running(llm) and a._llm is None
    [g] = b.generate(["hi"], Sampling(max_tokens=4))
    assert g.error is None and g.text == "ok"
    [closed] = a.generate(["hi"], Sampling(max_tokens=4))
    assert closed.error == "RuntimeError: VLLMBackend is closed"

    b.close()
    assert live_engines() == [] and llm.proc.poll() is not None  # stopped, and its process waited for
    c = VLLMBackend(fake_vllm, max_model_len=1024)  # a later backend starts a fresh engine
    assert engines_started() == 2 and c._llm is FakeLLM.instances[1]
    c.close()


@pytest.mark.parametrize("other", [{"max_model_len": 2048}, {"seed": 1}, {"dtype": "bfloat16"},
                                   {"gpu_memory_utilization": 0.3}, {"enforce_eager": False}])
def test_other_engine_settings_get_an_engine_of_their_own(fake_vllm, other):
    base = {"max_model_len": 1024, "seed": 0}
    a = VLLMBackend(fake_vllm, **base)
    b = VLLMBackend(fake_vllm, **{**base, **other})
    assert engines_started() == 2 and a._llm is not b._llm
    a.close()
    assert _running(b._engine.llm) and not _running(FakeLLM.instances[0])
    b.close()


def test_the_same_directory_by_another_path_shares(fake_vllm, tmp_path):
    (tmp_path / "link").symlink_to(fake_vllm)
    a = VLLMBackend(fake_vllm)
    b = VLLMBackend(str(tmp_path / "link") + "/")
    assert engines_started() == 1 and a._llm is b._llm
    a.close()
    b.close()
    assert live_engines() == []


def test_an_unclosed_backend_releases_its_reference_when_collected(fake_vllm):
    keep = VLLMBackend(fake_vllm)
    drop = VLLMBackend(fake_vllm)
    del drop
    gc.collect()
    assert live_engines()[0]["refs"] == 1
    keep.close()
    assert live_engines() == []


def test_the_exit_hook_stops_every_engine_whatever_references_remain(fake_vllm):
    a, b = VLLMBackend(fake_vllm), VLLMBackend(fake_vllm, seed=7)
    llms = list(FakeLLM.instances)
    vllm_engine._close_live_engines()
    assert live_engines() == [] and not any(_running(llm) for llm in llms)
    a.close()  # after the hook: a no-op, not an error
    b.close()


def test_concurrent_backends_start_one_engine_and_take_turns_calling_it(fake_vllm):
    FakeLLM.start_delay_s = 0.3
    backends, errors = [], []

    def build():
        try:
            backends.append(VLLMBackend(fake_vllm))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and engines_started() == 1 and live_engines()[0]["refs"] == 4

    calls = [threading.Thread(target=b.generate, args=(["x"], Sampling(max_tokens=1))) for b in backends]
    for t in calls:
        t.start()
    for t in calls:
        t.join()
    assert FakeLLM.instances[0].max_active == 1  # vllm.LLM is not thread-safe: one call at a time
    for b in backends:
        b.close()
    assert live_engines() == []
