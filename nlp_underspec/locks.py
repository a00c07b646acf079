"""The lock files a sweep keeps, and who holds them.

``nlp-underspec run`` holds ``.sweep.lock`` in its experiment folder and ``.running`` in each run folder it has
started. The sweep reads them to keep one ``run`` per folder; every writer that replaces a folder reads them too, so
that no folder in use is deleted (:func:`nlp_underspec.io.check_output_folder`). A lock names its process and host.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

RUN_LOCK = ".running"
SWEEP_LOCK = ".sweep.lock"
LOCK_NAMES = (SWEEP_LOCK, RUN_LOCK)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _pid(data: dict[str, Any]) -> int:
    try:
        return int(data.get("pid", -1))
    except (TypeError, ValueError):
        return -1


def lock_alive(path: Path) -> bool:
    """Held by a live process on this host (a lock from a killed sweep, or from another host, can be taken over)."""
    data = read_lock(path)
    return data is not None and data.get("host") == socket.gethostname() and pid_alive(_pid(data))


def held_by_another(path: Path) -> dict[str, Any] | None:
    """The lock at ``path`` when another process may hold it: alive on this host, or on a host we cannot ask.

    Stricter than :func:`lock_alive` because it guards deletion: a lock from another host sharing the storage (Ray)
    counts as held, and the caller's message says to delete the lock when no such process exists.
    """
    if not Path(path).is_file():
        return None
    data = read_lock(path)
    if data is None:
        return None
    if data.get("host") != socket.gethostname():
        return data
    pid = _pid(data)
    return data if pid != os.getpid() and pid_alive(pid) else None
