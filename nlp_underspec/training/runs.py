"""Opening a run folder: start fresh, resume an unfinished run, skip a finished one, or refuse a different run.

Nothing is written until :meth:`TrainingRunFolder.start`, which callers reach only after every input has been validated (the
saved state of a run to resume included: :func:`~nlp_underspec.training.state.check_saved_state`), so bad input never
leaves a half-made folder behind. The record (``run.json``) says ``running`` while training, ``failed``
after an exception, and ``complete`` only once every checkpoint file is on disk (:func:`records.mark_complete`).

A resumed run keeps the determinism scope it started under (:func:`seeding.determinism_scope`); resuming its saved
work under another one is allowed but warned about, and noted in the record, since the weights then differ from an
uninterrupted run's.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nlp_underspec import records
from nlp_underspec.config import config_diff
from nlp_underspec.errors import UsageError
from nlp_underspec.io import OUT_NOT_OURS, OutputKind, check_not_input, check_output_path, check_replaceable
from nlp_underspec.seeding import SCOPE_FIELDS, determinism_scope
from nlp_underspec.training.loop import latest_state
from nlp_underspec.training.state import check_saved_state

logger = logging.getLogger(__name__)

CONFIG_CHANGED = ("{path} holds run {run_id} made with a different config (hash {old_hash}, now {new_hash}; changed: "
                  "{keys}). Resume it with the recipe it was made with, choose another --out, or pass --overwrite to "
                  "start it again.")
SEEDS_CHANGED = ("{path} holds run {old_id} with seeds {old_seeds}, not {new_seeds}. Choose another --out, or pass "
                 "--overwrite to replace it.")
SCOPE_CHANGED = ("Resuming run {run_id} in {path} with {now}, but it was started with {then}. The result is a valid run "
                 "but will not be bit-identical to an uninterrupted run: the same seeds give the same weights only on "
                 "the same CPU capability, architecture, device and torch thread count.")


def _holds_run(folder: Path) -> bool:
    """A ``run.json`` of ours: what --overwrite may start again (checkpoint files vary, so entries are not listed)."""
    try:
        record = records.read_run_record(folder)
    except (UsageError, OSError, ValueError):
        return False
    return isinstance(record, dict) and {"kind", "config_hash"} <= set(record)


RUN_FOLDER_OUTPUT = OutputKind("run folder", _holds_run)


@dataclass
class TrainingRunFolder:
    path: Path
    record: records.RunRecord
    resuming: bool  # an unfinished record with the same config and seeds exists
    complete: bool  # a finished record with the same config and seeds exists: nothing to do
    overwrite: bool = False

    def start(self) -> records.RunRecord:
        """Create the folder (clearing it for --overwrite) and write the ``running`` record."""
        if self.overwrite and self.path.is_dir():
            for entry in records.run_folder_entries(self.path):  # a sweep's log and lock stay
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        records.write_run_record(self.path, self.record)
        return self.record

    def record_scope(self, device=None) -> None:
        """Put the determinism scope into the record (call once the device is known, before :meth:`start`).

        A run resuming saved work under another scope keeps the one it started under, lists the new one in
        ``resumed_under`` and warns; without saved work it starts over, so the new scope is simply its own.
        """
        now = determinism_scope(device)
        then = {key: getattr(self.record, key) for key in SCOPE_FIELDS}
        changed = [key for key in SCOPE_FIELDS if then[key] is not None and then[key] != now[key]]
        if self.resuming and changed and _holds_saved_work(self.path):
            logger.warning(SCOPE_CHANGED.format(run_id=self.record.run_id, path=self.path,
                                                now=_describe(now, changed), then=_describe(then, changed)))
            if now not in self.record.resumed_under:
                self.record.resumed_under.append(now)
            now = {**now, **{key: then[key] for key in changed}}
        for key, value in now.items():
            setattr(self.record, key, value)

    def train_recorded(self, accelerator, train: Callable[[records.RunRecord], dict[str, Any]]) -> records.RunRecord:
        """Record the determinism scope, write the ``running`` record (main process), run ``train(record)`` and record
        how it ended: ``failed`` with the error when it raises, else ``complete`` with the metrics it returns."""
        self.record_scope(accelerator.device)
        record = self.start() if accelerator.is_main_process else self.record
        try:
            metrics = train(record)
        except BaseException as err:
            if accelerator.is_main_process:
                records.mark_failed(self.path, record, records.failure_text(err))
            raise
        if accelerator.is_main_process:
            records.mark_complete(self.path, record, metrics)
        accelerator.end_training()
        return record


def open_run_folder(out: str | Path, *, run_id: str, kind: str, seeds: dict[str, Any], config: dict[str, Any],
                    overwrite: bool = False, inputs=(), **extra: Any) -> TrainingRunFolder:
    """Decide what to do with ``out`` for this run (see the module docstring); writes nothing.

    ``overwrite`` starts again only a run folder of ours, never one that is or holds one of ``inputs`` (the recipe,
    checkpoint and data the run reads) or one a running sweep holds.
    """
    path = Path(out)
    record = records.RunRecord.new(run_id=run_id, kind=kind, seeds=seeds, config=config, **extra)
    check_output_path(path)  # a file, under a file, or not writable: refused before any training
    if overwrite and path.is_dir() and records.run_folder_entries(path):
        check_not_input(path, inputs)
        check_replaceable(path, RUN_FOLDER_OUTPUT)
    if overwrite or not path.is_dir() or not records.run_folder_entries(path):
        return TrainingRunFolder(path, record, resuming=False, complete=False, overwrite=overwrite)
    existing = records.read_run_record(path)
    if existing is None:  # not a run of ours: --overwrite would not clear it either
        what = ", ".join(p.name for p in records.run_folder_entries(path)[:4])
        raise UsageError(OUT_NOT_OURS.format(path=path, what=what, kind=RUN_FOLDER_OUTPUT.name))
    if not _same_seeds(existing.get("seeds") or {}, record.seeds) or existing.get("run_id") != run_id:
        raise UsageError(SEEDS_CHANGED.format(path=path, old_id=existing.get("run_id"), old_seeds=existing.get("seeds"),
                                              new_seeds=record.seeds))
    if existing.get("config_hash") != record.config_hash:
        keys = config_diff(existing.get("config") or {}, config) or ["(record has no config)"]
        raise UsageError(CONFIG_CHANGED.format(path=path, run_id=run_id, old_hash=existing.get("config_hash"),
                                               new_hash=record.config_hash, keys=", ".join(keys)))
    lost = records.missing_model_files(path) if existing.get("status") == records.STATUS_COMPLETE else []
    if lost:  # the record outlived its model: nothing to keep, so the run is trained again
        logger.warning("%s says run %s is complete, but has no %s; training it again", path, run_id, ", ".join(lost))
    elif existing.get("status") == records.STATUS_COMPLETE:
        logger.info("%s is already complete (run %s); nothing to do", path, run_id)
        return TrainingRunFolder(path, _record_from_dict(existing), resuming=False, complete=True)
    record.started = existing.get("started") or record.started
    for key in SCOPE_FIELDS:  # the scope is the one that started the run (unknown in records older than the field)
        setattr(record, key, existing.get(key))
    record.resumed_under = list(existing.get("resumed_under") or [])
    state = latest_state(path)
    if state is not None:  # judged now, before the record says "running" again; its files are read only by the loop
        check_saved_state(state)
    return TrainingRunFolder(path, record, resuming=True, complete=False)


def _holds_saved_work(path: Path) -> bool:
    """Whether a resume continues work done earlier (a saved state, or intermediate checkpoints it will keep)."""
    return latest_state(path) is not None or any(path.glob("step_*"))


SCOPE_LABELS = {"torch_threads": "torch threads", "cpu_capability": "CPU capability", "machine": "architecture",
                "device": "device"}


def _describe(scope: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{SCOPE_LABELS[key]} {scope[key]}" for key in keys)


def _same_seeds(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Seeds agree where both records name them (a sweep's failure record leaves derived seeds as None)."""
    return all(old[k] == new[k] for k in old.keys() & new.keys() if old[k] is not None and new[k] is not None)


def _record_from_dict(data: dict[str, Any]) -> records.RunRecord:
    fields = records.RunRecord.__dataclass_fields__
    return records.RunRecord(**{k: v for k, v in data.items() if k in fields})
