"""Where a model engine's own output goes: the console under ``--debug``, else the engine log file.

vLLM and torch print start-up warnings (Triton, NUMA, ``LD_PRELOAD`` hints),
checkpoint-loading progress bars and shutdown notices, from the worker process
and from the engine processes it spawns, which inherit its stdout and stderr.
The CLI names a file in ``ENGINE_LOG_ENV`` unless ``--debug``; while an engine
starts and while it stops, this process's file descriptors 1 and 2 point at
that file, so everything printed then (by Python, C++ or a child) lands there,
and the engine processes keep it as their stdout and stderr for their whole
life. Redirecting descriptors, not ``sys.stderr``, is what reaches C++
warnings and the child processes. Outside those two windows the console is
untouched, so corpusmill's own lines still show.
"""
from __future__ import annotations

import contextlib
import os
import sys

ENGINE_LOG_ENV = "CORPUSMILL_ENGINE_LOG"


def engine_log_path() -> str | None:
    return os.environ.get(ENGINE_LOG_ENV) or None


@contextlib.contextmanager
def engine_output_to_log():
    """Send fds 1 and 2 (and so the children started meanwhile) to the engine log; yields its path or None."""
    path = engine_log_path()
    if path is None:
        yield None
        return
    sys.stdout.flush()
    sys.stderr.flush()
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield path
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
