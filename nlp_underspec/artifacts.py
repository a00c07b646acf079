"""The names of everything a run folder and an experiment folder hold, and the run ids they are named by.

One home for these names, so a writer and every reader agree on them (docs/design.md, contracts 3-5). This module sits
with the foundation: it imports nothing of the package, and every layer may import it.

An experiment folder (``runs/tiny``, the ``--out`` of ``evaluate`` / ``run``)::

    summary.json  scores.parquet  predictions/<test>/   results of the fine-tuned models (or of any scored models)
    pretrained/                                           the pretrained checkpoints' results, same layout
    analysis.json  report/  cards/                        what `analyze`, `report` and `card` write from them
    selection.json                                        what `select --out` may write there (the report reads it)
    manifest.json  stages.json  recipe.yaml  world/       what a sweep writes to plan, resume and rebuild its data
    pretrain/p03/  finetune/<task>/p03-f01/               run folders, each with run.json (and step_<K>/ checkpoints)
"""

from __future__ import annotations

import re
from typing import NamedTuple

SUMMARY = "summary.json"
SCORES = "scores.parquet"
PREDICTIONS = "predictions"
PRETRAINED = "pretrained"  # the sweep keeps the pretrained checkpoints' results apart, in this sub-folder
ANALYSIS = "analysis.json"
COMPRESSION = "compression.json"  # `nlp-underspec compress --out DIR`: DIR/compression.json beside DIR/<method>/; report reads it
SELECTION = "selection.json"  # `nlp-underspec select --out RUNDIR/selection.json`: read by the report when present
REPORT = "report"
CARDS = "cards"
MANIFEST = "manifest.json"
STAGES = "stages.json"
RECIPE = "recipe.yaml"
WORLD = "world"
RUN_RECORD = "run.json"
PRETRAIN_RUNS = "pretrain"  # pretrain/p03/
FINETUNE_RUNS = "finetune"  # finetune/<task>/p03-f01/

# p03 (a pretraining run), p03-f01 (a fine-tuning of it), f01 (a fine-tuning of a checkpoint with no seed of ours).
RUN_ID = re.compile(r"^p(\d+)(?:-f(\d+))?$|^f(\d+)$")
STEP_FOLDER = re.compile(r"^step_(\d+)$")


class RunId(NamedTuple):
    """The seeds a run id names: ``p03-f01`` -> (3, 1); ``p03`` -> (3, None); ``f01`` -> (None, 1)."""

    pretrain_seed: int | None
    finetune_seed: int | None

    @property
    def is_pretrained(self) -> bool:
        return self.finetune_seed is None


def parse_run_id(name: str) -> RunId | None:
    """The seeds of a run id, or None when ``name`` is not one (an external model's name).

    >>> parse_run_id("p03-f01"), parse_run_id("p03"), parse_run_id("f01"), parse_run_id("bert-base")
    (RunId(pretrain_seed=3, finetune_seed=1), RunId(pretrain_seed=3, finetune_seed=None), \
RunId(pretrain_seed=None, finetune_seed=1), None)
    """
    match = RUN_ID.match(name)
    if match is None:
        return None
    pretrain, finetune = match.group(1), match.group(2) or match.group(3)
    return RunId(int(pretrain) if pretrain is not None else None, int(finetune) if finetune is not None else None)


def step_of(folder_name: str) -> int | None:
    """The step of an intermediate checkpoint folder (``step_200`` -> 200), None for any other name."""
    match = STEP_FOLDER.match(folder_name)
    return int(match.group(1)) if match else None


def step_folder(step: int) -> str:
    """``step_200``: the folder (and Hub branch) of the checkpoint saved at a step."""
    return f"step_{step}"
