"""The predictions triplet (docs/design.md, contract 3), the MultiBERTs interchange format.

Per stress test, a folder with

- ``run_info.tsv``: one row per model: ``model, pretrain_seed, finetune_seed`` (+ anything else, e.g. ``resolver``);
- ``label_info.tsv``: one row per item: ``item_id`` (+ ``occupation``, ``gender``, ``template_id``, gold label, text...);
- ``preds.npy``: float array ``[n_models, n_items]``, row i for run_info row i, column j for label_info row j;
- ``triplet.json`` (written by this toolkit; optional on read): the model and item order preds.npy was written for and
  its SHA-256, because nothing in the three files themselves can tell that rows of a table were reordered or
  preds.npy replaced (the numbers would then belong to other models, silently).

Scoring and all statistics read only this, never models, so they can be tested with hand-made matrices and applied to
prediction files produced elsewhere.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_bytes
from nlp_underspec.tables import read_tsv, to_numeric_column, write_tsv

RUN_INFO = "run_info.tsv"
LABEL_INFO = "label_info.tsv"
PREDS = "preds.npy"
MANIFEST = "triplet.json"
MANIFEST_VERSION = 1
RUN_INFO_COLUMNS = ("model", "pretrain_seed", "finetune_seed")
SEED_COLUMNS = ("pretrain_seed", "finetune_seed")

TRIPLET_HINT = "A predictions folder holds run_info.tsv, label_info.tsv and preds.npy (docs/design.md, contract 3)."
NOT_A_FOLDER = "Predictions folder {path} does not exist. " + TRIPLET_HINT
IS_A_FILE = "{path} is a file, not a predictions folder. " + TRIPLET_HINT
NO_MODELS = ("{path} lists no models (a header and no rows): a triplet needs at least one model's predictions. "
             "Re-run the predictions, or restore the table's rows.")
MISSING_FILE = "Predictions folder {path} has no {name}. " + TRIPLET_HINT
PREDS_UNREADABLE = "{path} is not a readable .npy array ({error}). Re-run the predictions."
PREDS_NOT_NPY = ("{path} is not a .npy file (it does not start with NumPy's magic bytes). Save the predictions with "
                 "np.save(path, preds), a float array [n_models, n_items].")
PREDS_PICKLED = ("{path} holds pickled Python objects, which are never loaded (unpickling can run code). Save the "
                 "predictions as a float array: np.save(path, np.asarray(preds, dtype=float)).")
PREDS_NOT_NUMERIC = ("{path} holds {dtype} values, not numbers: expected a float array [n_models, n_items]. Re-run the "
                     "predictions, or save them with np.save(path, preds.astype(float)).")
PREDS_NOT_2D = "{path} must be a 2-D array [n_models, n_items], got shape {shape}."
PREDS_SHAPE = ("{path} has shape {shape}, but {run_info} lists {n_models} model(s) and {label_info} {n_items} item(s): "
               "expected ({n_models}, {n_items}). Re-run the predictions or fix the tables so they match.")
PREDS_NOT_FINITE = ("{path} holds {count} NaN/inf value(s) (first: model '{model}', item '{item}'). "
                    "Re-run the predictions for that model; scores of non-finite predictions are meaningless.")
DUPLICATE_ITEMS = "{path} lists item_id '{item}' more than once: item ids must be unique."
DUPLICATE_MODELS = "{path} lists model '{model}' more than once: model names must be unique."
ORDER_CHANGED = ("{path} no longer matches the {kind} order preds.npy was written for ({manifest}): line {line} is "
                 "'{got}', written for '{expected}'. Restore the original order (preds.npy rows follow run_info.tsv "
                 "rows, its columns follow label_info.tsv rows), or re-run the predictions.")
COUNT_CHANGED = ("{path} lists {got} {kind}(s), but preds.npy was written for {expected} ({manifest}). Restore the "
                 "table, or re-run the predictions.")
PREDS_CHANGED = ("{path} is not the array {manifest} was written with (its SHA-256 differs): rows or values changed "
                 "since. Re-run the predictions, or, if you changed it on purpose, delete {manifest} (a triplet "
                 "without it is read unchecked).")
MANIFEST_BROKEN = ("{path} is not a triplet manifest of this toolkit ({error}). Delete it to read the triplet "
                   "unchecked, or re-run the predictions.")
MANIFEST_NEWER = ("{path} has schema_version {version}, newer than this nlp_underspec reads (up to {supported}): "
                  "it was written by a newer version. Upgrade nlp_underspec (pip install -U nlp_underspec), or re-run "
                  "the predictions with this one.")
ITEMS_DIFFER = "Cannot combine predictions for test '{test}': the items of {first} and {other} differ."


@dataclass
class Predictions:
    """One stress test's predictions for a family of models."""

    run_info: pd.DataFrame
    label_info: pd.DataFrame
    preds: np.ndarray
    source: str = "<memory>"

    def __post_init__(self) -> None:
        self.run_info = self.run_info.reset_index(drop=True)
        self.label_info = self.label_info.reset_index(drop=True)
        for column in SEED_COLUMNS:
            if column not in self.run_info.columns:
                self.run_info[column] = pd.array([pd.NA] * len(self.run_info), dtype="Int64")
        self.validate()

    @property
    def n_models(self) -> int:
        return len(self.run_info)

    @property
    def n_items(self) -> int:
        return len(self.label_info)

    def validate(self) -> None:
        where = Path(self.source)
        preds_path = where / PREDS if self.source != "<memory>" else "preds"
        if "model" not in self.run_info.columns:
            raise UsageError(f"{where / RUN_INFO} is missing column(s) model (found: {', '.join(self.run_info.columns)}).")
        if "item_id" not in self.label_info.columns:
            raise UsageError(f"{where / LABEL_INFO} is missing column(s) item_id (found: "
                             f"{', '.join(self.label_info.columns)}).")
        preds = np.asarray(self.preds)
        if preds.dtype.kind not in "biuf":  # strings, objects, complex or records: isfinite and scoring would fail
            raise UsageError(PREDS_NOT_NUMERIC.format(path=preds_path, dtype=_dtype_name(preds.dtype)))
        if preds.ndim != 2:
            raise UsageError(PREDS_NOT_2D.format(path=preds_path, shape=tuple(preds.shape)))
        if preds.shape != (self.n_models, self.n_items):
            raise UsageError(PREDS_SHAPE.format(path=preds_path, shape=tuple(preds.shape), run_info=where / RUN_INFO,
                                                label_info=where / LABEL_INFO, n_models=self.n_models,
                                                n_items=self.n_items))
        bad = ~np.isfinite(preds)
        if bad.any():
            row, col = (int(i[0]) for i in np.nonzero(bad))
            raise UsageError(PREDS_NOT_FINITE.format(path=preds_path, count=int(bad.sum()),
                                                     model=self.run_info["model"].iloc[row],
                                                     item=self.label_info["item_id"].iloc[col]))
        duplicated = self.label_info["item_id"].astype(str).duplicated()
        if duplicated.any():
            raise UsageError(DUPLICATE_ITEMS.format(path=where / LABEL_INFO,
                                                    item=self.label_info["item_id"][duplicated].iloc[0]))
        duplicated = self.run_info["model"].astype(str).duplicated()
        if duplicated.any():
            raise UsageError(DUPLICATE_MODELS.format(path=where / RUN_INFO,
                                                     model=self.run_info["model"][duplicated].iloc[0]))
        self.preds = preds.astype(np.float64, copy=False)

    def select(self, models: list[int] | np.ndarray) -> "Predictions":
        """The triplet restricted to some model rows."""
        rows = np.asarray(models)
        return Predictions(self.run_info.iloc[rows].copy(), self.label_info.copy(), self.preds[rows], self.source)


def _dtype_name(dtype: np.dtype) -> str:
    """``string (<U3)`` and the like: what a user who wrote the array would recognise."""
    kinds = {"U": "string", "S": "bytes", "O": "Python object", "c": "complex", "V": "record", "M": "datetime",
             "m": "timedelta"}
    return f"{kinds.get(dtype.kind, dtype.kind)} ({dtype.str})"


def concat_models(parts: list[Predictions], *, test: str = "") -> Predictions:
    """Stack the rows of several triplets over the same items (e.g. models evaluated one at a time)."""
    first = parts[0]
    for other in parts[1:]:
        if not other.label_info["item_id"].astype(str).equals(first.label_info["item_id"].astype(str)):
            raise UsageError(ITEMS_DIFFER.format(test=test, first=first.source, other=other.source))
    run_info = pd.concat([p.run_info for p in parts], ignore_index=True)
    return Predictions(run_info, first.label_info, np.concatenate([p.preds for p in parts], axis=0))


def write_predictions(folder: str | os.PathLike, predictions: Predictions) -> Path:
    """Write the triplet; each file atomically, preds last (readers check the shapes agree)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in ((RUN_INFO, predictions.run_info), (LABEL_INFO, predictions.label_info)):
        buffer = _io.StringIO()
        write_tsv(frame, buffer)
        atomic_write_bytes(folder / name, buffer.getvalue().encode("utf-8"))
    buffer = _io.BytesIO()
    np.save(buffer, predictions.preds, allow_pickle=False)
    atomic_write_bytes(folder / PREDS, buffer.getvalue())
    manifest = {"schema_version": MANIFEST_VERSION,
                "models": predictions.run_info["model"].astype(str).tolist(),
                "items": predictions.label_info["item_id"].astype(str).tolist(),
                "preds_sha256": hashlib.sha256(buffer.getvalue()).hexdigest()}
    atomic_write_bytes(folder / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
    return folder


def _seed_columns(frame: pd.DataFrame) -> pd.DataFrame:
    for column in SEED_COLUMNS:
        if column in frame.columns:
            frame[column] = to_numeric_column(frame, column, kind="an integer seed or empty", integer=True)
    return frame


def check_predictions_folder(folder: Path) -> None:
    """``folder`` is a folder: a file passed where one is expected is named as a file, not as missing."""
    if folder.is_file():
        raise UsageError(IS_A_FILE.format(path=folder))
    if not folder.is_dir():
        raise UsageError(NOT_A_FOLDER.format(path=folder))


def read_predictions(folder: str | os.PathLike) -> Predictions:
    """Read and validate a triplet: shapes agree, predictions finite, ids unique, seeds integers, one model at least."""
    folder = Path(folder)
    check_predictions_folder(folder)
    for name in (RUN_INFO, LABEL_INFO, PREDS):
        if not (folder / name).is_file():
            raise UsageError(MISSING_FILE.format(path=folder, name=name))
    run_info = _seed_columns(read_tsv(folder / RUN_INFO, required=("model",), hint=TRIPLET_HINT))
    if run_info.empty:  # preds (0, N) agrees with it, and every score would be an empty table, exit 0
        raise UsageError(NO_MODELS.format(path=folder / RUN_INFO))
    label_info = read_tsv(folder / LABEL_INFO, required=("item_id",), hint=TRIPLET_HINT)
    predictions = Predictions(run_info, label_info, _load_preds(folder / PREDS), source=str(folder))
    if (folder / MANIFEST).exists():  # triplets made elsewhere (MultiBERTs' files) have none
        _check_manifest(folder, predictions)
    return predictions


def _check_manifest(folder: Path, predictions: Predictions) -> None:
    """The tables and preds.npy are still the ones written together: same model and item order, same array bytes."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        written = {"model": list(map(str, manifest["models"])), "item": list(map(str, manifest["items"]))}
        digest = str(manifest["preds_sha256"])
        version = manifest.get("schema_version", MANIFEST_VERSION)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise UsageError(MANIFEST_BROKEN.format(path=path, error=_short_error(err))) from None
    # A newer writer may have changed what the fields mean: refuse rather than check against a format we don't know.
    if isinstance(version, (int, float)) and not isinstance(version, bool) and version > MANIFEST_VERSION:
        raise UsageError(MANIFEST_NEWER.format(path=path, version=version, supported=MANIFEST_VERSION))
    for kind, table, column in (("model", RUN_INFO, "model"), ("item", LABEL_INFO, "item_id")):
        frame = predictions.run_info if kind == "model" else predictions.label_info
        found = frame[column].astype(str).tolist()
        if len(found) != len(written[kind]):
            raise UsageError(COUNT_CHANGED.format(path=folder / table, got=len(found), kind=kind,
                                                  expected=len(written[kind]), manifest=path))
        moved = [row for row, (a, b) in enumerate(zip(found, written[kind])) if a != b]
        if moved:
            raise UsageError(ORDER_CHANGED.format(path=folder / table, kind=kind, manifest=path, line=moved[0] + 2,
                                                  got=found[moved[0]], expected=written[kind][moved[0]]))
    if hashlib.sha256((folder / PREDS).read_bytes()).hexdigest() != digest:
        raise UsageError(PREDS_CHANGED.format(path=folder / PREDS, manifest=path))


def _short_error(err: BaseException) -> str:
    return f"missing key {err}" if isinstance(err, KeyError) else str(err).splitlines()[0] if str(err) else type(err).__name__


def _load_preds(path: Path) -> np.ndarray:
    """preds.npy, never unpickled; each way it can be broken gets its own message."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if magic != b"\x93NUMPY":
            raise UsageError(PREDS_NOT_NPY.format(path=path))
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise UsageError(PREDS_PICKLED.format(path=path)) from None
        raise UsageError(PREDS_UNREADABLE.format(path=path, error=err)) from None
    except (OSError, EOFError) as err:
        raise UsageError(PREDS_UNREADABLE.format(path=path, error=err)) from None
