"""Which engine processes are alive: for the "no engine process outlives the pipeline" checks.

Robust against what made naive checks flaky: a child that exits between listing
and inspection, zombies not yet reaped by their parent, multiprocessing's
resource tracker (shared by the whole test session, not an engine), and
processes that are already shutting down when the check starts (a grace period).
"""
from __future__ import annotations

import os
import time

import psutil


def _is_resource_tracker(proc: psutil.Process) -> bool:
    return any("resource_tracker" in part for part in proc.cmdline())


def reap_zombie_children() -> None:
    """Collect exit statuses of our own zombie children, by pid (never ``waitpid(-1)``, which
    would steal the status of a child some library still means to join)."""
    for proc in psutil.Process().children():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(proc.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            pass


def live_descendants(exclude: set[int] = frozenset()) -> list[psutil.Process]:
    """Running descendants of this process, not zombies, not the resource tracker, not in ``exclude``."""
    reap_zombie_children()
    alive = []
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in exclude:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE or _is_resource_tracker(proc):
                continue
        except psutil.Error:  # gone (or turned zombie) while we looked
            continue
        alive.append(proc)
    return alive


def wait_until_gone(procs, grace_s: float = 20.0) -> list[psutil.Process]:
    """Wait up to ``grace_s`` for ``procs`` to exit; the ones still running (not zombies) afterwards."""
    deadline = time.monotonic() + grace_s
    while True:
        reap_zombie_children()
        left = []
        for proc in procs:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(proc)
            except psutil.Error:
                pass
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)


def new_descendants_after_grace(baseline: set[int], grace_s: float = 20.0) -> list[str]:
    """Descendants not in ``baseline`` that are still running after ``grace_s``, described for a failure message."""
    left = wait_until_gone(live_descendants(baseline), grace_s)
    described = []
    for proc in left:
        try:
            described.append(f"{proc.pid} {proc.name()} {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            pass
    return described
