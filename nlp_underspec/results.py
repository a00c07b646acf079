"""Tidy scores (``scores.parquet``, contract 4) and ``summary.json`` (contract 5).

Scores are long-format: one row per (model, test, metric[, occupation]). Everything downstream (analysis, report,
cards) reads them; ``summary.json`` is the per-model digest humans and the acceptance checks read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from nlp_underspec.artifacts import SCORES, SUMMARY
from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_bytes, atomic_write_json, check_schema_version, read_json_object
from nlp_underspec.records import package_versions
from nlp_underspec.stress.registry import available_stress_tests, get_stress_test

# The summary.json layout this toolkit writes and reads up to. A summary.json without the key was written before it
# existed and is read as version 1 (the same layout).
SUMMARY_SCHEMA_VERSION = 1
SCORE_COLUMNS = ("model", "pretrain_seed", "finetune_seed", "test", "metric", "value", "occupation")

NO_RESULTS = "{path} has no {name}. Run `nlp-underspec evaluate` or `nlp-underspec run` to produce it."
SCORES_MISSING_COLUMNS = "{path} is missing column(s) {missing}: expected {expected} (docs/design.md, contract 4)."
SCORES_UNREADABLE = ("{path} is not a readable Parquet file ({error}). Re-run `nlp-underspec score` (or the command "
                     "that wrote it) to write it again.")
SCORES_NOT_NUMERIC = ("{path}: column 'value' holds {dtype} values, not numbers (docs/design.md, contract 4). "
                      "Re-score the predictions.")
SUMMARY_HINT = "Re-run `nlp-underspec score` (or the command that wrote it) to write it again."
SUMMARY_NEWER = ("{path} has schema_version {version}, newer than this nlp_underspec reads (up to {supported}): it "
                 "was written by a newer version. Upgrade nlp_underspec (pip install -U nlp_underspec), or re-run "
                 "`nlp-underspec score` (or the command that wrote it) with this one.")
SUMMARY_BAD_VERSION = "{path}: schema_version must be a whole number, got {got}. " + SUMMARY_HINT
SUMMARY_WITHOUT_MODELS = ("{path} has no 'models' list, so it is not a results summary (docs/design.md, contract 5). "
                          + SUMMARY_HINT)
METRIC_NOT_A_NUMBER = ("{path}: model '{model}', test '{test}': {metric} must be a number or null, got {got}. "
                       + SUMMARY_HINT)
METRIC_OUT_OF_RANGE = ("{path}: model '{model}', test '{test}': {metric} is {value}, outside its range {range} "
                       "({description}). " + SUMMARY_HINT)
INTERVAL_NOT_TWO_NUMBERS = ("{path}: model '{model}', test '{test}': {key} must be two numbers (an interval) or null, "
                            "got {got}. " + SUMMARY_HINT)
TESTS_NOT_A_MAPPING = "{path}: model '{model}': {key} must be a mapping (JSON object), got {got}. " + SUMMARY_HINT
RANGE_SLACK = 1e-9  # float rounding at a range's end (a correlation of 1.0000000000000002) is not out of range
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


def write_summary(path: str | os.PathLike, *, models: list[dict[str, Any]], config_hash: str | None,
                  n_boot: int | None = None, bootstrap_seed: int | None = None, tests: Iterable[str] | None = None,
                  versions: dict[str, str] | None = None, **extra: Any) -> Path:
    """The one writer of summary.json (``evaluate``, ``score``, the sweep and the demo families all call it):
    ``{"models", "versions", "config_hash", "schema_version", "tests", "n_boot", "bootstrap_seed", ...extra}`` (the
    first three in the order of docs/design.md, contract 5).

    ``tests`` (default: every registered test a model entry has a block of, in order of appearance) get the
    registry's metadata: version, direction of each metric, per-occupation metric. ``versions`` defaults to the
    installed packages' (:func:`~nlp_underspec.records.package_versions`).
    """
    tests = _scored_tests(models) if tests is None else tests
    summary = {"models": models, "versions": package_versions() if versions is None else versions,
               "config_hash": config_hash, "schema_version": SUMMARY_SCHEMA_VERSION, "tests": {test: stress_test_metadata(test) for test in tests}, "n_boot": n_boot,
               "bootstrap_seed": bootstrap_seed, **extra}
    return atomic_write_json(path, _clean(summary))


def stress_test_metadata(test: str) -> dict[str, Any]:
    """What summary.json records of a scored test: how to read its numbers without the code that wrote them."""
    stress_test = get_stress_test(test)
    return {"version": stress_test.version, "higher_is_better": stress_test.higher_is_better(),
            "per_occupation_metric": stress_test.per_occupation_metric}


def _scored_tests(models: Iterable[dict[str, Any]]) -> list[str]:
    """Registered tests the entries hold blocks of (a hand-made family's unregistered names get no metadata)."""
    known = set(available_stress_tests())
    found = [test for entry in models for test in entry.get("tests", {}) if test in known]
    return list(dict.fromkeys(found))


def read_summary(path: str | os.PathLike, *, check_metrics: bool = True) -> dict[str, Any]:
    """summary.json (the file or its folder); with ``check_metrics``, every registered test's metric of every model
    is a number (or null) within the test's declared range: the cards publish them as they are."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY
    if not path.is_file():
        raise UsageError(NO_RESULTS.format(path=path.parent, name=path.name))
    summary = read_json_object(path, hint=SUMMARY_HINT)
    check_schema_version(path, summary.get("schema_version", SUMMARY_SCHEMA_VERSION), supported=SUMMARY_SCHEMA_VERSION,
                         bad=SUMMARY_BAD_VERSION, newer=SUMMARY_NEWER)
    if not isinstance(summary.get("models"), list):
        raise UsageError(SUMMARY_WITHOUT_MODELS.format(path=path))
    if check_metrics:
        for entry in summary["models"]:
            if isinstance(entry, dict):
                _check_model_metrics(path, entry)
    return summary


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bools included: a flag metric (calibration's learned) is written as one


def _range_text(bounds: tuple[float | None, float | None]) -> str:
    low, high = bounds
    return f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"


def _out_of_range(value: float, bounds: tuple[float | None, float | None] | None) -> bool:
    if bounds is None:
        return False
    low, high = bounds
    return (low is not None and value < low - RANGE_SLACK) or (high is not None and value > high + RANGE_SLACK)


def _check_model_metrics(path: Path, entry: dict[str, Any]) -> None:
    """Each test block's metrics against its registered MetricInfo; a test not registered here is read unchecked."""
    model, tests = entry.get("model"), entry.get("tests", {})
    if not isinstance(tests, dict):
        raise UsageError(TESTS_NOT_A_MAPPING.format(path=path, model=model, key="tests", got=_shown(tests)))
    for test, block in tests.items():
        if not isinstance(block, dict):
            raise UsageError(TESTS_NOT_A_MAPPING.format(path=path, model=model, key=f"tests.{test}", got=_shown(block)))
        try:
            metrics = get_stress_test(test).metrics
        except UsageError:
            continue
        where = {"path": path, "model": model, "test": test}
        for metric, info in metrics.items():
            value = block.get(metric)
            if value is not None and not _is_number(value):
                raise UsageError(METRIC_NOT_A_NUMBER.format(**where, metric=metric, got=_shown(value)))
            if value is not None and _out_of_range(float(value), info.range):
                raise UsageError(METRIC_OUT_OF_RANGE.format(**where, metric=metric, value=value, range=_range_text(
                    info.range), description=info.description))
        for key, value in block.items():
            if key.endswith("ci95") and value is not None and not (
                    isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
                raise UsageError(INTERVAL_NOT_TWO_NUMBERS.format(**where, key=key, got=_shown(value)))
