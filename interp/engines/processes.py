"""The engine's child processes: none may outlive a failed start or a closed engine."""

from __future__ import annotations

import os


def running_children() -> set[int]:
    """Ids of this process's descendants now."""
    import psutil

    return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}


def reap_new_children(before: set[int], timeout: float = 10.0) -> list[int]:
    """Stop the descendants that were not running at `before` (terminate, then kill); returns their
    ids. Only processes this one started are touched, each by its id."""
    import psutil

    new = [p for p in psutil.Process(os.getpid()).children(recursive=True) if p.pid not in before]
    for process in new:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(new, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
    return [p.pid for p in new]
