"""Model files a stage loads: where they come from and their sha256 for the manifest.

Stages that load a model report ``(name, value)`` stats (path and sha256) so a
dataset's manifest says exactly which model decided it. ``WithStats`` adds such
constant stats to any stage transform.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from typing import Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems


def packaged_file(package: str, *parts: str) -> str:
    """Path of a data file inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: not shipped by the installed {package!r}")
    return path


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_copy(path: str) -> str:
    """fastText loads from a local path only; copy remote (gs://…) files to this worker's temp dir once.

    Called in a DoFn's ``setup``, so the copy is on the machine that loads it.
    """
    if "://" not in path:
        return path
    import tempfile

    target = os.path.join(tempfile.gettempdir(), "corpusmill-models", hashlib.sha1(path.encode()).hexdigest(), os.path.basename(path))
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with FileSystems.open(path) as src, open(target + ".part", "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
        os.replace(target + ".part", target)
    return target


def model_stats(prefix: str, path: str) -> list[tuple[str, object]]:
    return [(f"{prefix}_path", path), (f"{prefix}_sha256", file_sha256(path))]


class ModelStats(beam.PTransform):
    """``(prefix_path, …)`` and ``(prefix_sha256, …)`` stats, computed on a worker.

    Not at pipeline construction: the launching machine may not be able to read
    the model (a ``gs://`` path, or a file that exists only in the worker
    image), and a packaged default's path differs between machines, so
    ``default`` (a picklable function) resolves it where it is used.
    """

    def __init__(self, prefix: str, path: str | None, default: Callable[[], str] | None = None):
        super().__init__()
        self._prefix = prefix
        self._path = path
        self._default = default

    def expand(self, pbegin):
        prefix, path, default = self._prefix, self._path, self._default
        return (
            pbegin
            | "Model" >> beam.Create([path])
            | "Hash" >> beam.FlatMap(lambda p: model_stats(prefix, p or default()))
        )


class WithStats(beam.PTransform):
    """Run a stage transform and add the ``(name, value)`` stats another transform makes (e.g. model sha256)."""

    def __init__(self, inner: beam.PTransform, stats: beam.PTransform):
        super().__init__()
        self._inner = inner
        self._stats = stats

    def expand(self, docs):
        outputs = docs | "Apply" >> self._inner
        return outputs.with_stats(docs.pipeline | "ModelStats" >> self._stats)
