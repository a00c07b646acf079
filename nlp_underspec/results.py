"""Tidy scores (``scores.parquet``, contract 4) and ``summary.json`` (contract 5).

Scores are long-format: one row per (model, test, metric[, occupation]). Everything downstream (analysis, report,
cards) reads them; ``summary.json`` is the per-model digest humans and the acceptance checks read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_bytes, atomic_write_json, read_json_object

SCORES = "scores.parquet"
SUMMARY = "summary.json"
SCORE_COLUMNS = ("model", "pretrain_seed", "finetune_seed", "test", "metric", "value", "occupation")

NO_RESULTS = "{path} has no {name}. Run `nlp-underspec evaluate` or `nlp-underspec run` to produce it."
SCORES_MISSING_COLUMNS = "{path} is missing column(s) {missing}: expected {expected} (DESIGN.md contract 4)."
SCORES_UNREADABLE = ("{path} is not a readable Parquet file ({error}). Re-run `nlp-underspec score` (or the command "
                     "that wrote it) to write it again.")
SCORES_NOT_NUMERIC = ("{path}: column 'value' holds {dtype} values, not numbers (DESIGN.md contract 4). Re-score the "
                      "predictions.")
SUMMARY_HINT = "Re-run `nlp-underspec score` (or the command that wrote it) to write it again."
SUMMARY_WITHOUT_MODELS = ("{path} has no 'models' list, so it is not a results summary (DESIGN.md contract 5). "
                          + SUMMARY_HINT)
SCORES_NOT_FINITE = "{path} holds non-finite values for {what}. Re-score the predictions."
SCORES_NOT_IN_SUMMARY = ("{scores} holds scores of model(s) {extra} that {summary} does not list (it lists {listed}): "
                         "the two files do not describe the same models (a scores.parquet from another folder?). "
                         "Restore this folder's own scores.parquet, or re-run the command that wrote both.")


def scores_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Build a tidy scores table with the contract's column order and dtypes (seeds nullable ints)."""
    frame = pd.DataFrame(list(rows), columns=list(SCORE_COLUMNS))
    for column in ("pretrain_seed", "finetune_seed"):
        frame[column] = pd.array([None if pd.isna(v) else int(v) for v in frame[column]], dtype="Int64")
    for column in ("model", "test", "metric", "occupation"):
        frame[column] = frame[column].astype("string")
    frame["value"] = frame["value"].astype(float)
    return frame


def write_scores(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"scores frame lacks {missing}")
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return atomic_write_bytes(path, buffer.getvalue())


def read_scores(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        path = path / SCORES
    if not path.is_file():
        raise UsageError(NO_RESULTS.format(path=path.parent, name=path.name))
    frame = _read_parquet(path)
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns and c != "occupation"]
    if missing:
        raise UsageError(SCORES_MISSING_COLUMNS.format(path=path, missing=", ".join(missing),
                                                       expected=", ".join(SCORE_COLUMNS)))
    if "occupation" not in frame.columns:
        frame["occupation"] = pd.array([pd.NA] * len(frame), dtype="string")
    if not pd.api.types.is_numeric_dtype(frame["value"]) or pd.api.types.is_bool_dtype(frame["value"]):
        raise UsageError(SCORES_NOT_NUMERIC.format(path=path, dtype=frame["value"].dtype))
    bad = ~np.isfinite(frame["value"].to_numpy(dtype=float))
    if bad.any():
        row = frame[bad].iloc[0]
        raise UsageError(SCORES_NOT_FINITE.format(path=path, what=f"{row['model']} / {row['test']} / {row['metric']}"))
    _check_listed_in_summary(frame, path)
    return frame


def _check_listed_in_summary(frame: pd.DataFrame, path: Path) -> None:
    """Every model of scores.parquet is one summary.json beside it lists: a scores.parquet copied in from another
    folder would otherwise be analysed and reported as this family's. (A folder without summary.json, e.g. one made
    by hand, is read as it is.)"""
    summary_path = path.parent / SUMMARY
    if not summary_path.is_file():
        return
    listed = [str(entry.get("model")) for entry in read_summary(summary_path)["models"] if isinstance(entry, dict)]
    extra = sorted(set(frame["model"].astype(str)) - set(listed))
    if extra:
        raise UsageError(SCORES_NOT_IN_SUMMARY.format(scores=path, extra=_few(extra), summary=summary_path,
                                                      listed=_few(listed) or "none"))


def _few(names: list[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, pyarrow.ArrowException) as err:  # truncated, not Parquet, or unreadable
        raise UsageError(SCORES_UNREADABLE.format(path=path, error=_first_line(err))) from None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:200]


def _clean(value: Any) -> Any:
    """JSON-friendly: numpy scalars to python, NaN to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if value is pd.NA:
        return None
    return value


def write_summary(path: str | os.PathLike, *, models: list[dict[str, Any]], versions: dict[str, str],
                  config_hash: str | None, **extra: Any) -> Path:
    """``{"models": [...], "versions": {...}, "config_hash": "...", ...extra}`` with the contract's key order."""
    summary = {"models": models, "versions": versions, "config_hash": config_hash, **extra}
    return atomic_write_json(path, _clean(summary))


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY
    if not path.is_file():
        raise UsageError(NO_RESULTS.format(path=path.parent, name=path.name))
    summary = read_json_object(path, hint=SUMMARY_HINT)
    if not isinstance(summary.get("models"), list):
        raise UsageError(SUMMARY_WITHOUT_MODELS.format(path=path))
    return summary
