"""Where a path points: remote (a Beam filesystem other than the local disk) or relative to a config."""
from __future__ import annotations

import os

REMOTE_PREFIXES = ("gs://", "s3://", "hdfs://", "http://", "https://", "azfs://")


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_PREFIXES)


def resolve_path(path: str, base_dir: str) -> str:
    """Relative paths in a config file are relative to that file's directory."""
    if is_remote(path) or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))
