"""The complete run folders of an experiment: ``pretrain/p03/`` and ``finetune/<task>/p03-f01/``, with the
``step_<K>/`` intermediate checkpoints of a pretraining run."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp_underspec import records
from nlp_underspec.artifacts import FINETUNE_RUNS, PRETRAIN_RUNS, RUN_RECORD, parse_run_id, step_of
from nlp_underspec.records import read_run_record

log = logging.getLogger(__name__)

CHECKPOINT_CONFIG = "config.json"  # what makes a step_<K>/ folder a checkpoint


@dataclass(frozen=True)
class RunFolder:
    """A complete run folder: a checkpoint this toolkit trained."""

    run_id: str
    kind: str  # pretrained | finetuned
    task: str | None
    path: Path
    record: dict[str, Any]
    steps: tuple[tuple[int, Path], ...] = ()  # intermediate checkpoints, ascending

    @property
    def seeds(self) -> dict[str, Any]:
        return dict(self.record.get("seeds") or {})

    def seed(self, name: str) -> int | None:
        """``pretrain`` / ``finetune`` / ``init`` / ``data`` / ``mask`` seed, whichever spelling the record uses."""
        seeds = self.seeds
        for key in (f"{name}_seed", name):
            if isinstance(seeds.get(key), int):
                return seeds[key]
        parsed = parse_run_id(self.run_id)
        if parsed is not None and name == "pretrain":
            return parsed.pretrain_seed
        if parsed is not None and name == "finetune":
            return parsed.finetune_seed
        return None

    @property
    def label(self) -> str:
        return self.run_id if self.task is None else f"{self.task}/{self.run_id}"


def _steps(folder: Path) -> tuple[tuple[int, Path], ...]:
    steps = []
    for child in folder.iterdir():
        step = step_of(child.name)
        if step is not None and child.is_dir() and (child / CHECKPOINT_CONFIG).is_file():
            steps.append((step, child))
    return tuple(sorted(steps))


def _complete_record(folder: Path) -> dict[str, Any] | None:
    record = read_run_record(folder)
    if record is None or record.get("status") != "complete":
        if (folder / RUN_RECORD).is_file():
            log.warning("Skipping %s: its run is not complete.", folder)
        return None
    return record


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def discover_runs(root: str | os.PathLike) -> list[RunFolder]:
    """The complete run folders under ``pretrain/`` and ``finetune/<task>/``, in seed order; a folder whose run.json
    disagrees with its name is refused here, so every reader of the family (report, cards, push) meets it."""
    root = Path(root)
    runs: list[RunFolder] = []
    for folder in _subfolders(root / PRETRAIN_RUNS):
        record = _complete_record(folder)
        if record is not None:
            records.check_run_folder_name(folder, record)
            runs.append(RunFolder(str(record["run_id"]), "pretrained", None, folder, record, _steps(folder)))
    for task_folder in _subfolders(root / FINETUNE_RUNS):
        for folder in _subfolders(task_folder):
            record = _complete_record(folder)
            if record is not None:
                records.check_run_folder_name(folder, record)
                task = str(record.get("task") or task_folder.name)
                runs.append(RunFolder(str(record["run_id"]), "finetuned", task, folder, record))
    return runs
