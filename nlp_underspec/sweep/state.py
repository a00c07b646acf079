"""What state each planned run is in, read from its folder: the run record is the truth (docs/design.md, contract 2).

- ``complete``: run.json says so (written last, atomically);
- ``failed``: run.json says so, with the error; the next sweep retries it;
- ``running``: a sweep on this host holds the run's lock and its process is alive;
- ``partial``: started before but neither complete nor failed (killed), or complete in a folder that lost its model
  (weights, config or tokenizer): resumed from its last saved state;
- ``pending``: never started.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from nlp_underspec.config import config_diff
from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_json
from nlp_underspec.locks import RUN_LOCK, SWEEP_LOCK
from nlp_underspec.locks import lock_alive as _lock_alive
from nlp_underspec.records import STATUS_COMPLETE, STATUS_FAILED, missing_model_files, read_run_record
from nlp_underspec.sweep.plan import RunSpec

STATES = ("complete", "running", "failed", "partial", "pending")

RECIPE_CHANGED = ("{folder} was completed with a different config: {keys} changed since. Restore the recipe, use a new "
                  "--out, or pass --force-rerun to redo the affected runs.")
RUN_FOLDER_LINK = ("{path} is a symbolic link (to {target}), not a run folder. A sweep reads and writes each run only "
                   "in its own folder inside {exp_dir}: replace the link with a real folder.")
RUN_FOLDER_FILE = ("{path} is a file where the sweep keeps a run folder. Move it out of {exp_dir}, or choose another "
                   "--out.")
LOST_MODEL = "run.json says complete, but the folder has no {missing}: the next `nlp-underspec run` trains it again"
SWEEP_BUSY = ("Another `nlp-underspec run` (pid {pid}) is working in {exp_dir}. Wait for it to finish, or stop it first; "
              "if no such process exists, delete {lock}.")


def check_run_folders(exp_dir: Path, runs: list[RunSpec]) -> None:
    """Refuse a run folder, or a folder on its way (``pretrain/``, ``finetune/stsb/``), that is a symbolic link (the
    run's log, lock and record would land wherever it points, in another run's folder or outside the experiment) or a
    file (the run could not be written at all).
    Checked before anything is written; the experiment folder itself may be a link (to a larger disk, say)."""
    for run in runs:
        parts = Path(run.folder).parts
        for depth in range(1, len(parts) + 1):
            path = exp_dir.joinpath(*parts[:depth])
            if path.is_symlink():
                raise UsageError(RUN_FOLDER_LINK.format(path=path, target=os.readlink(path), exp_dir=exp_dir))
            if path.exists() and not path.is_dir():
                raise UsageError(RUN_FOLDER_FILE.format(path=path, exp_dir=exp_dir))


def run_state(exp_dir: Path, run: RunSpec) -> str:
    """One of :data:`STATES`. A record that says complete in a folder without its model (weights, config, tokenizer
    lost since) is ``partial``: the sweep trains the run again (:func:`lost_model`)."""
    folder = exp_dir / run.folder
    record = read_run_record(folder) if folder.is_dir() else None
    if record is not None and record.get("status") == STATUS_COMPLETE and not missing_model_files(folder):
        return "complete"
    if _lock_alive(folder / RUN_LOCK):
        return "running"
    if record is not None and record.get("status") == STATUS_FAILED:
        return "failed"
    if folder.is_dir() and any(folder.iterdir()):
        return "partial"
    return "pending"


def lost_model(exp_dir: Path, run: RunSpec) -> str | None:
    """What status says of a run whose record says complete but whose folder lacks its model, else None."""
    folder = exp_dir / run.folder
    record = read_run_record(folder) if folder.is_dir() else None
    missing = missing_model_files(folder) if record is not None and record.get("status") == STATUS_COMPLETE else []
    return LOST_MODEL.format(missing=", ".join(missing)) if missing else None


def changed_keys(exp_dir: Path, run: RunSpec) -> list[str]:
    """Keys of the resolved config that differ between a finished run's record and the plan (empty: unchanged)."""
    record = read_run_record(exp_dir / run.folder)
    if record is None or record.get("config_hash") == run.config_hash:
        return []
    return config_diff(record.get("config", {}), run.config) or ["(config hash)"]


def check_unchanged(exp_dir: Path, run: RunSpec) -> None:
    keys = changed_keys(exp_dir, run)
    if keys:
        raise UsageError(RECIPE_CHANGED.format(folder=exp_dir / run.folder, keys=", ".join(keys)))


def acquire_run_lock(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / RUN_LOCK, {"pid": os.getpid(), "host": socket.gethostname()})


def release_run_lock(folder: Path) -> None:
    (folder / RUN_LOCK).unlink(missing_ok=True)


class SweepLock:
    """One `run` per experiment folder at a time; a lock left by a killed sweep is stale and taken over."""

    def __init__(self, exp_dir: Path) -> None:
        self.path = exp_dir / SWEEP_LOCK

    def __enter__(self) -> "SweepLock":
        if self.path.exists() and _lock_alive(self.path):
            pid = json.loads(self.path.read_text()).get("pid")
            raise UsageError(SWEEP_BUSY.format(pid=pid, exp_dir=self.path.parent, lock=self.path))
        atomic_write_json(self.path, {"pid": os.getpid(), "host": socket.gethostname()})
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
