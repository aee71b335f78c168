"""Whether this code runs from the corpusmill source checkout or from an installed copy.

An installed copy (a wheel, ``pip install --target``, a Dataflow worker's sdist)
must not reach for repository paths (``models/``) or report the commit of
whatever git repository site-packages happens to sit in.
"""
from __future__ import annotations

import tomllib
from pathlib import Path


def checkout_root() -> Path | None:
    """The checkout holding this package (its parent has corpusmill's pyproject.toml), else None."""
    root = Path(__file__).resolve().parents[2]
    try:
        with open(root / "pyproject.toml", "rb") as fh:
            project = tomllib.load(fh).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if project.get("name") == "corpusmill" else None
