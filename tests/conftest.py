"""Shared fixtures: small real corpora written to disk, pipeline runs on FnApiRunner, one SmolLM2 engine."""
from __future__ import annotations

import json
import os

import pytest

from tests.support.corpora import REPO, SAMPLE_DIR, python_stdlib_paragraphs, run_config, write_jsonl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Session fixtures that cost a run or an engine start each. Under pytest-xdist (`make test` runs two
# test processes, `--dist loadgroup`) a module's tests stay in one process (its module fixtures are
# built once), and every module that uses one of these goes to the same process, so it is built once.
SHARED_FIXTURES = ("smollm2_engine", "demo_output", "curated_run")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the marks into the scheduling groups
def pytest_collection_modifyitems(items):
    group = {}
    for item in items:
        shared = [name for name in SHARED_FIXTURES if name in item.fixturenames]
        module = item.module.__name__
        if shared or module not in group:
            group[module] = shared[0] if shared else group.get(module, module)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group[item.module.__name__]))


@pytest.fixture(scope="session")
def stdlib_docs() -> list[str]:
    return python_stdlib_paragraphs()


@pytest.fixture()
def messy_corpus(tmp_path, stdlib_docs) -> dict:
    """Real docstrings plus every kind of bad line the normalizer must account for."""
    good = [json.dumps({"text": t, "source": "stdlib"}).encode() for t in stdlib_docs[:40]]
    dup = [json.dumps({"text": stdlib_docs[0].replace("\n", "\n  "), "source": "stdlib"}).encode()]
    bad = [
        b'{"text": "cut off mid str',  # malformed JSON
        json.dumps({"text": stdlib_docs[1]}).encode().replace(b"the", b"th\xff\xfee", 1),  # bad UTF-8
        b'{"text": null}',
        b'{"text": "   \\n  "}',
        b'{"text": 42}',
        b'{"body": "no text key"}',
        b"[1, 2, 3]",
        b'{"text": "lone surrogate \\ud800 here"}',
        b"",
    ]
    write_jsonl(tmp_path / "a.jsonl.zst", good[:20] + bad[:4], "zst")
    write_jsonl(tmp_path / "b.jsonl.gz", good[20:] + dup + bad[4:], "gz")
    expected = {
        "records": len(good) + len(dup) + len(bad),
        "quarantined": 6,  # malformed, bad utf-8, number, missing key, array, surrogate
        "dropped_normalize": 3,  # null, whitespace, blank line
        "exact_duplicates": 1,
    }
    return {"dir": tmp_path, "pattern": str(tmp_path / "*.jsonl*"), "expected": expected}


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> dict:
    """One run of configs/demo.yaml on the bundled sample, shared by the tests that read it."""
    from pipelines.cli import main
    from pipelines.config import load_config
    from pipelines.run import run

    tmp = tmp_path_factory.mktemp("demo")
    out = tmp / "out"
    # the demo's classifier, trained as `make demo` trains it (here into tmp, not models/)
    model = tmp / "sample-hq-vs-rendered.bin"
    assert main(["train-quality", str(REPO / "configs" / "quality-train.yaml"), "--set", f"output={model}"]) == 0
    cfg = load_config(str(REPO / "configs" / "demo.yaml"), [f"stages.quality_classifier.model_path={model}"],
                      output_dir=str(out))
    manifest = run(cfg, [], log=lambda *_: None)
    return {"dir": out, "manifest": manifest, "config": cfg}


CURATED_STAGES = [
    {"exact_dedup": {}},
    {"minhash_dedup": {}},
    {"language_id": {"languages": []}},
    {"heuristic_filters": {"gopher_quality": {"params": {"min_doc_words": 5}}, "c4_quality": {"enabled": False}}},
]


@pytest.fixture(scope="session")
def curated_run(tmp_path_factory) -> dict:
    """One real multi-stage run (dedup, language ID, datatrove filters) on four bundled sample files."""
    out = tmp_path_factory.mktemp("curated") / "out"
    raw = {
        "input": {"paths": [str(SAMPLE_DIR / name) for name in (
            "fortunes.jsonl.gz", "debian-reference.jsonl.zst", "malformed.jsonl.zst", "licenses.jsonl.zst")]},
        "output": {"dir": str(out), "shard_rows": 400},
        "stages": CURATED_STAGES,
    }
    manifest = run_config(raw, REPO)
    return {"dir": out, "manifest": manifest, "raw": raw}


@pytest.fixture(scope="session")
def smollm2_engine():
    """One SmolLM2 vLLM engine for the whole session (``tests/support/llm_engine.py``); its processes
    must be gone once the session's reference, by then the last one, is released."""
    from tests.support.llm_engine import SMOLLM2_ENGINE_SETTINGS, SharedEngine
    from tests.support.llm_processes import live_descendants, wait_until_gone
    from transforms.llm.api import BackendConfig
    from transforms.llm.backends import make_backend
    from transforms.llm.models import prepare_model
    from transforms.llm.vllm_engine import live_engines

    model = str(prepare_model())
    baseline = {p.pid for p in live_descendants()}
    backend = make_backend(BackendConfig(model=model, **SMOLLM2_ENGINE_SETTINGS))
    engine = SharedEngine(model, backend)
    procs = [p for p in live_descendants(baseline) if p.pid in backend.engine_pids]
    assert procs and len(procs) == len(backend.engine_pids), "the engine core should run in a child process"
    yield engine
    refs = engine.info()["refs"]
    backend.close()
    assert refs == 1, f"{refs - 1} reference(s) to the session engine were never released"
    assert not [e for e in live_engines() if e["pids"] == backend.engine_pids]
    left = wait_until_gone(procs, grace_s=20)
    assert not left, [p.pid for p in left]
