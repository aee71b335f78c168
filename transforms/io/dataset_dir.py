"""How a run replaces a dataset directory without ever leaving a half-written one.

A run writes everything into ``OUT/.corpusmill-incomplete-<run>/`` (hidden, so
no reader or glob mistakes it for data) and only a finished, balanced result
is moved into place. The commit moves the old dataset's entries aside into
``OUT/.corpusmill-replaced-<run>/`` (manifest first), moves the new entries in
and writes ``manifest.json`` last: at every instant ``OUT/manifest.json`` is
either absent or describes files that are all there. ``recover`` (run before
every run, and by readers' error messages) rolls a commit that was killed
half-way back to the old dataset, and deletes leftovers of killed runs.

Local disks rename atomically. On object stores (``gs://``) Beam's rename is
copy + delete per object, so a commit there takes time proportional to the
dataset; the manifest is still removed first and written last, so readers
never see a mix, but a commit killed there is rolled back by ``recover`` only
for the entries it had fully moved.
"""
from __future__ import annotations

import json
import os
import uuid

from apache_beam.io.filesystems import FileSystems

from transforms.outputs.manifest import MANIFEST
from transforms.packing.summary import packing_files

# What makes a directory a dataset (refuse to overwrite it), and what a commit moves, manifest last.
DATASET_MARKERS = (MANIFEST, "data", "rejected")
DATASET_ENTRIES = ("data", "rejected", "buckets", "packed", "report", "traps", "README.md", MANIFEST)
INCOMPLETE_PREFIX = ".corpusmill-incomplete-"
REPLACED_PREFIX = ".corpusmill-replaced-"


class DatasetExists(Exception):
    """The output directory already holds a dataset and the run was not told to replace it."""


class IncompleteDataset(Exception):
    """A directory without a complete dataset was given to a reader (inspect, release, notebook)."""


def _is_local(path: str) -> bool:
    return "://" not in path


def _exists(path: str) -> bool:
    return FileSystems.exists(path)


def _children(root: str) -> list[str]:
    """Names directly under ``root`` (local: ``os.listdir``; object stores: the first path part below it)."""
    if _is_local(root):
        return sorted(os.listdir(root)) if os.path.isdir(root) else []
    prefix = root.rstrip("/") + "/"
    try:
        matches = FileSystems.match([prefix + "**"])[0].metadata_list
    except Exception:  # noqa: BLE001 - nothing there
        return []
    return sorted({m.path[len(prefix):].split("/", 1)[0] for m in matches if m.path.startswith(prefix)})


def _move(src: str, dst: str) -> None:
    """Rename a file or directory: atomic on a local disk, copy + delete per object elsewhere."""
    if _is_local(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)
        return
    prefix = src.rstrip("/")
    matches = FileSystems.match([prefix, prefix + "/**"])
    files = [m.path for match in matches for m in match.metadata_list]
    FileSystems.rename(files, [dst.rstrip("/") + f[len(prefix):] for f in files])


def _delete(path: str) -> None:
    if _exists(path):
        FileSystems.delete([path])


def dataset_entries(root: str) -> list[str]:
    """The dataset markers present in ``root`` (empty: no dataset there)."""
    return [name for name in DATASET_MARKERS if _exists(FileSystems.join(root, name))]


def new_staging(root: str) -> str:
    """A fresh, hidden directory inside ``root`` for one run's output."""
    staging = FileSystems.join(root, f"{INCOMPLETE_PREFIX}{uuid.uuid4().hex[:12]}")
    FileSystems.mkdirs(staging)
    return staging


def recover(root: str, log=print) -> None:
    """Finish what killed runs left: roll back a half-done commit, delete incomplete outputs."""
    for name in _children(root):
        path = FileSystems.join(root, name)
        if name.startswith(REPLACED_PREFIX):
            if not _exists(FileSystems.join(root, MANIFEST)) and _exists(FileSystems.join(path, MANIFEST)):
                # Killed between moving the old dataset aside and writing the new manifest.
                for entry in DATASET_ENTRIES:
                    if _exists(FileSystems.join(path, entry)):
                        _delete(FileSystems.join(root, entry))
                        _move(FileSystems.join(path, entry), FileSystems.join(root, entry))
                log(f"[corpusmill] restored the previous dataset in {root} (a replacement was interrupted)")
            _delete(path)
        elif name.startswith(INCOMPLETE_PREFIX):
            _delete(path)
            log(f"[corpusmill] removed {path}: output of a run that did not finish")


def check_replaceable(root: str, overwrite: bool) -> None:
    """Refuse to write into a directory that holds a dataset unless told to replace it."""
    found = dataset_entries(root)
    if found and not overwrite:
        raise DatasetExists(
            f"{root} already holds a dataset ({', '.join(found)}); pass --overwrite to replace it "
            f"(it is replaced only once the new one is complete) or choose another --output"
        )


def commit(staging: str, root: str) -> None:
    """Move a finished dataset from ``staging`` into ``root``, replacing the old one; manifest last."""
    aside = FileSystems.join(root, REPLACED_PREFIX + staging.rstrip("/").rsplit(INCOMPLETE_PREFIX, 1)[-1])
    old = [e for e in (MANIFEST,) + DATASET_ENTRIES[:-1] if _exists(FileSystems.join(root, e))]
    if old:
        FileSystems.mkdirs(aside)
        for entry in old:  # the manifest goes first: from here on no reader takes the old files as complete
            _move(FileSystems.join(root, entry), FileSystems.join(aside, entry))
    for entry in DATASET_ENTRIES:  # the manifest comes last: it is the commit
        if _exists(FileSystems.join(staging, entry)):
            _move(FileSystems.join(staging, entry), FileSystems.join(root, entry))
    _delete(aside)
    _delete(staging)


def read_complete_manifest(root: str) -> dict:
    """The manifest of a finished dataset, or ``IncompleteDataset`` saying why there is none."""
    path = FileSystems.join(root, MANIFEST)
    if not _exists(path):
        leftovers = [n for n in _children(root) if n.startswith((REPLACED_PREFIX, INCOMPLETE_PREFIX))]
        why = (f"an interrupted run left {', '.join(leftovers)}; the next `corpusmill run` into it cleans up "
               f"(and restores a dataset whose replacement was interrupted)" if leftovers
               else "not a finished corpusmill dataset (a run that did not finish, or the wrong directory)")
        raise IncompleteDataset(f"{root}: no manifest.json: {why}")
    try:
        with FileSystems.open(path) as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - any unreadable manifest is one clear message
        raise IncompleteDataset(f"{root}: manifest.json is unreadable ({exc})") from None
    if manifest.get("format") != "corpusmill-dataset":
        raise IncompleteDataset(f"{root}: manifest.json is not a corpusmill dataset manifest")
    if manifest.get("status") != "ok":
        raise IncompleteDataset(f"{root}: the run's ledger did not balance (status {manifest.get('status')!r})")
    listed = manifest.get("shards", []) + manifest.get("rejected", []) + packing_files(manifest)
    missing = [f["path"] for f in listed if not _exists(FileSystems.join(root, f["path"]))]
    if missing:
        raise IncompleteDataset(f"{root}: files the manifest lists are missing: {', '.join(missing[:5])}")
    return manifest
