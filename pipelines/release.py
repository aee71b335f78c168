"""``corpusmill release RUN_DIR --name NAME --version X.Y.Z [--to DIR]``: an immutable, validated release.

Layout: ``DIR/X.Y.Z/`` holds the data, ``rejected/``, ``report/``,
``manifest.json``, ``README.md`` (dataset card), ``CHANGELOG.md`` and
``SHA256SUMS`` (and, only ``with_traps``, the copyright-trap key: a private
release; otherwise a trap text anywhere but the data shards refuses the release); ``DIR/CHANGELOG.md`` collects every version's entry, newest
first. A version is written under ``DIR/.X.Y.Z.partial`` and renamed into place
at the end, so an existing ``DIR/X.Y.Z`` is always complete and is never
overwritten.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.io.dataset_dir import IncompleteDataset, read_complete_manifest
from transforms.outputs.manifest import MANIFEST, read_manifest, write_json
from transforms.outputs.release_card import changelog_entry, render_release_card, source_facts, today
from transforms.outputs.release_checks import validate_run
from transforms.outputs.report import REPORT_DIR
from transforms.outputs.token_counter import TokenCounter
from transforms.packing.summary import packing_files
from transforms.traps.copyright_traps import TRAP_KEY_FILE
from transforms.traps.disclosure import read_key, trap_leaks

VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CHANGELOG = "CHANGELOG.md"
SUMS = "SHA256SUMS"


class ReleaseError(Exception):
    """The release was not cut; the message says why (every violation, one per line)."""


def _version_key(version: str) -> tuple[int, int, int]:
    return tuple(int(p) for p in VERSION.match(version).groups())


def previous_version(dest: str, version: str) -> str | None:
    """The highest complete version below ``version`` in ``dest``."""
    try:
        found = FileSystems.match([FileSystems.join(dest, "*", MANIFEST)])[0].metadata_list
    except Exception:  # noqa: BLE001 - no directory yet: no previous version
        return None
    versions = [p.path.rstrip("/").split("/")[-2] for p in found]
    older = [v for v in versions if VERSION.match(v) and _version_key(v) < _version_key(version)]
    return max(older, key=_version_key) if older else None


def _read(path: str) -> bytes:
    with FileSystems.open(path, mime_type="application/octet-stream") as fh:
        return fh.read()


def _write(path: str, data: bytes, mime: str = "application/octet-stream") -> None:
    with FileSystems.create(path, mime_type=mime) as fh:
        fh.write(data)


def _run_files(run_dir: str, manifest: dict) -> list[str]:
    """Relative paths to copy: data, rejected rows, training sequences and the report (index + plots that exist)."""
    files = [f["path"] for f in manifest["shards"] + manifest["rejected"] + packing_files(manifest)]
    report = FileSystems.join(run_dir, REPORT_DIR)
    try:
        matches = FileSystems.match([FileSystems.join(report, "*")])[0].metadata_list
        files += [f"{REPORT_DIR}/{m.path.rstrip('/').split('/')[-1]}" for m in matches]
    except Exception:  # noqa: BLE001 - a run without a report releases without plots
        pass
    return sorted(set(files))


def cut_release(run_dir: str, name: str, version: str, to: str | None = None,
                tokenizer: str | None = None, with_traps: bool = False, log=print) -> str:
    if not NAME.match(name):
        raise ReleaseError(f"--name {name!r}: letters, digits, '.', '_' and '-' only")
    if not VERSION.match(version):
        raise ReleaseError(f"--version {version!r}: expected X.Y.Z (e.g. 0.1.0)")
    run_dir = run_dir.rstrip("/")
    dest = (to or FileSystems.join(os.path.dirname(os.path.abspath(run_dir)), "releases", name)).rstrip("/")
    target = FileSystems.join(dest, version)
    if FileSystems.exists(target):
        raise ReleaseError(f"{target} already exists: versions are immutable, choose a new version")
    try:
        manifest = read_complete_manifest(run_dir)
    except IncompleteDataset as exc:
        raise ReleaseError(f"{exc}; release not cut") from None

    log(f"[corpusmill] validating {run_dir}")
    results = validate_run(run_dir, manifest)
    for result in results:
        log(result.line())
    failed = [r for r in results if not r.ok]
    if failed:
        raise ReleaseError(
            f"{sum(len(r.violations) for r in failed)} violation(s); release not cut:\n"
            + "\n".join(r.line() for r in failed)
        )

    key = None
    if manifest.get("traps"):
        try:
            key = read_key(run_dir)
        except OSError as exc:
            raise ReleaseError(f"the run has copyright traps but its key {TRAP_KEY_FILE} cannot be read ({exc}); "
                               "without it the release cannot be checked for leaked trap texts; release not cut") from None
    elif with_traps:
        raise ReleaseError("--with-traps: the run has no copyright traps")

    counter = TokenCounter(tokenizer)
    facts = source_facts(run_dir, [s["path"] for s in manifest["shards"]], counter)
    manifest["release"] = {
        "name": name,
        "version": version,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": run_dir,
        "rows": manifest["totals"]["kept_rows"],
        **facts,
        "validation": [{"name": r.name, "checked": r.checked, "ok": r.ok} for r in results],
    }
    if key is not None:
        manifest["release"]["with_traps"] = with_traps
    prev = previous_version(dest, version)
    previous = read_manifest(FileSystems.join(dest, prev)) if prev else None
    entry = changelog_entry(name, version, today(), manifest, previous)
    manifest["release"]["previous_version"] = prev

    staging = FileSystems.join(dest, f".{version}.partial")
    if FileSystems.exists(staging):
        FileSystems.delete([staging])
    sums: dict[str, str] = {}
    for rel in _run_files(run_dir, manifest):
        data = _read(FileSystems.join(run_dir, rel))
        _write(FileSystems.join(staging, rel), data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    plots = [p.split("/")[-1] for p in sums if p.startswith(f"{REPORT_DIR}/") and p.endswith(".png")]
    schema = pq.read_schema(io.BytesIO(_read(FileSystems.join(run_dir, manifest["shards"][0]["path"]))))
    generated = {
        MANIFEST: None,
        "README.md": render_release_card(manifest, schema, entry, sorted(plots)).encode("utf-8"),
        CHANGELOG: ("# Changelog\n\n" + entry).encode("utf-8"),
    }
    write_json(FileSystems.join(staging, MANIFEST), manifest)
    generated[MANIFEST] = _read(FileSystems.join(staging, MANIFEST))
    for rel, data in generated.items():
        if rel != MANIFEST:
            _write(FileSystems.join(staging, rel), data, "text/markdown")
        sums[rel] = hashlib.sha256(data).hexdigest()
    if key is not None:
        shards = {f["path"] for f in manifest["shards"]}
        public = {rel: _read(FileSystems.join(staging, rel)) for rel in sums if rel not in shards}
        leaks = trap_leaks(public, key)
        if leaks:
            FileSystems.delete([staging])
            raise ReleaseError(f"a trap or control text would be published outside the data shards, in {len(leaks)} "
                               "place(s) (file: trap id; the texts are not shown here); release not cut:\n"
                               + "\n".join(leaks))
        if with_traps:
            data = _read(FileSystems.join(run_dir, TRAP_KEY_FILE))
            _write(FileSystems.join(staging, TRAP_KEY_FILE), data)
            sums[TRAP_KEY_FILE] = hashlib.sha256(data).hexdigest()
    _write(FileSystems.join(staging, SUMS),
           "".join(f"{digest}  {rel}\n" for rel, digest in sorted(sums.items())).encode("utf-8"), "text/plain")
    FileSystems.rename([staging], [target])

    dest_log = FileSystems.join(dest, CHANGELOG)
    earlier = _read(dest_log).decode("utf-8").split("\n", 2)[2] if FileSystems.exists(dest_log) else ""
    _write(dest_log, ("# Changelog\n\n" + entry + ("\n" + earlier if earlier else "")).encode("utf-8"), "text/markdown")
    log(f"[corpusmill] released {name} {version}: {manifest['release']['rows']:,} rows, "
        f"{manifest['release']['tokens']:,} tokens, {len(facts['sources'])} sources → {target}")
    return target
