"""An experiment's scores and predictions triplets, its ``pretrained/`` sub-results merged in by one rule.

A sweep keeps the pretrained checkpoints' results apart, in ``pretrained/`` (same layout as the experiment folder:
docs/design.md, contracts 3 and 4). The rule: a model's results come from one folder. The experiment folder's own
rows come first; ``pretrained/`` adds the models the experiment folder does not hold (all of them, in a sweep).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from nlp_underspec.artifacts import PREDICTIONS, PRETRAINED, SCORES
from nlp_underspec.errors import UsageError
from nlp_underspec.results import SCORE_COLUMNS, read_scores
from nlp_underspec.triplet import LABEL_INFO, PREDS, RUN_INFO, Predictions, concat_models, read_predictions

logger = logging.getLogger(__name__)


def _with_new_models(scores: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([scores, extra[~extra["model"].isin(set(scores["model"]))]], ignore_index=True)


def read_experiment_scores(root: Path, *, required: bool = True) -> pd.DataFrame:
    """``scores.parquet`` with ``pretrained/scores.parquet``'s models added.

    ``required``: the experiment folder's own scores.parquet must exist (read_scores names it when not); without it,
    a folder with neither file gives an empty table with the scores' columns.
    """
    root = Path(root)
    scores = read_scores(root) if required or (root / SCORES).is_file() else None
    if (root / PRETRAINED / SCORES).is_file():
        extra = read_scores(root / PRETRAINED)
        scores = extra if scores is None else _with_new_models(scores, extra)
    if scores is None:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    return scores


def _read_triplets(folder: Path) -> dict[str, Predictions]:
    predictions = folder / PREDICTIONS
    if not predictions.is_dir():
        return {}
    triplets = {}
    for test_folder in sorted(p for p in predictions.iterdir() if p.is_dir()):
        if any((test_folder / name).exists() for name in (RUN_INFO, LABEL_INFO, PREDS)):
            triplets[test_folder.name] = read_predictions(test_folder)  # a broken triplet is an error, not a skip
    return triplets


def _merge_triplets(parts: list[dict[str, Predictions]]) -> dict[str, Predictions]:
    """One triplet per test over all parts (models stacked); a part whose items differ is left out, with a warning."""
    merged: dict[str, Predictions] = {}
    for part in parts:
        for test, predictions in part.items():
            if test not in merged:
                merged[test] = predictions
                continue
            known = set(merged[test].run_info["model"].astype(str))
            new = np.flatnonzero(~predictions.run_info["model"].astype(str).isin(known).to_numpy())
            try:
                merged[test] = concat_models([merged[test], predictions.select(new)], test=test)
            except UsageError as err:
                logger.warning("%s; analysing %s without %s", err, test, predictions.source)
    return merged


def read_experiment_triplets(root: Path) -> dict[str, Predictions]:
    """Every predictions triplet, by test: ``predictions/<test>/`` with ``pretrained/predictions/<test>/``'s models
    added (the same rule as the scores: a model already in the experiment folder's triplet is not read twice)."""
    root = Path(root)
    parts = [_read_triplets(root)]
    if (root / PRETRAINED / SCORES).is_file():
        parts.append(_read_triplets(root / PRETRAINED))
    return _merge_triplets(parts)
