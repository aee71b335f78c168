"""Shared fixtures: small real corpora written to disk and pipeline runs on FnApiRunner."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import zstandard

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "data" / "sample"


def python_stdlib_paragraphs(limit: int = 200) -> list[str]:
    """Real prose nobody on the team wrote: docstrings of the Python standard library."""
    import inspect
    import json as json_mod
    import argparse, collections, email, http.client, logging, pathlib, shutil, subprocess, textwrap  # noqa: E401

    paragraphs: list[str] = []
    for module in (json_mod, argparse, collections, email, http.client, logging, pathlib, shutil, subprocess, textwrap):
        for _, obj in inspect.getmembers(module):
            if inspect.ismodule(obj):  # submodules are attributes only once someone imported them
                continue
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 200:
                paragraphs.append(doc)
    unique = sorted(set(paragraphs))
    return unique[:limit]


@pytest.fixture(scope="session")
def stdlib_docs() -> list[str]:
    return python_stdlib_paragraphs()


def write_jsonl(path: Path, lines: list[bytes], compression: str | None = None) -> Path:
    payload = b"".join(line + b"\n" for line in lines)
    if compression == "gz":
        payload = gzip.compress(payload, mtime=0)
    elif compression == "zst":
        payload = zstandard.ZstdCompressor().compress(payload)
    path.write_bytes(payload)
    return path


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


def run_config(raw: dict, config_dir: Path, beam_args: list[str] | None = None) -> dict:
    from pipelines.config import config_from_dict
    from pipelines.run import run

    cfg = config_from_dict(raw, str(config_dir))
    return run(cfg, beam_args or [], log=lambda *_: None)


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> dict:
    """One run of configs/demo.yaml on the bundled sample, shared by the tests that read it."""
    from pipelines.config import load_config
    from pipelines.run import run

    from pipelines.cli import main

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
