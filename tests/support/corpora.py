"""Test helpers: where the repository and its sample are, real text to build corpora from, and a run helper."""
from __future__ import annotations

import gzip
from pathlib import Path

import zstandard

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO / "data" / "sample"


def python_stdlib_paragraphs(limit: int = 200) -> list[str]:
    """Real prose nobody on the team wrote: docstrings of the Python standard library."""
    import argparse
    import collections
    import email
    import http.client
    import inspect
    import json as json_mod
    import logging
    import pathlib
    import shutil
    import subprocess
    import textwrap

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


def write_jsonl(path: Path, lines: list[bytes], compression: str | None = None) -> Path:
    payload = b"".join(line + b"\n" for line in lines)
    if compression == "gz":
        payload = gzip.compress(payload, mtime=0)
    elif compression == "zst":
        payload = zstandard.ZstdCompressor().compress(payload)
    path.write_bytes(payload)
    return path


def run_config(raw: dict, config_dir: Path, beam_args: list[str] | None = None) -> dict:
    from pipelines.config import config_from_dict
    from pipelines.run import run

    cfg = config_from_dict(raw, str(config_dir))
    return run(cfg, beam_args or [], log=lambda *_: None)
