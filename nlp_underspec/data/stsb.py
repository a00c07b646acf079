"""STS-B loading: the Hub (GLUE ``stsb``), the original STS Benchmark folder, the GLUE folder, or one table file.

Every layout comes back as the same frame: ``sentence1, sentence2, label`` (gold similarity 0-5, NaN where the split
has no gold scores, like GLUE's test) with ``source`` and ``line`` columns so that later errors can point at a row.
A score that is given must be a finite number from 0 to 5: ``nan``, ``inf`` or 7 is an error naming the file and line
(an empty field is a pair without gold), because fine-tuning on it trains a NaN model or on another scale.

Layouts:

- original STS Benchmark folder: ``sts-train.csv``, ``sts-dev.csv``, ``sts-test.csv``; tab-separated, no header,
  fields genre/file/year/id/score/sentence1/sentence2 and, on some rows, extra trailing fields (ignored). Sentences
  contain quotes, so the files are split on tabs, never parsed as quoted CSV.
- GLUE folder: ``train.tsv``, ``dev.tsv``, ``test.tsv`` with a header naming ``sentence1``, ``sentence2`` and (not in
  test) ``score``.
- one file (``.csv``, ``.tsv``, ``.json``, ``.jsonl``) with columns ``sentence1, sentence2`` and optionally ``label`` or
  ``score``; the split argument is ignored.
- a Hub id, e.g. ``nyu-mll/glue`` (config ``stsb``, the default for GLUE ids) or ``sentence-transformers/stsb``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd

from nlp_underspec.data.hub_datasets import load_hub_dataset, looks_like_hub_id
from nlp_underspec.errors import UsageError
from nlp_underspec.tables import shown_columns
from nlp_underspec.textio import open_text, read_text

SPLITS = ("train", "dev", "test")
LAYOUTS = ("the STS Benchmark folder with sts-train.csv/sts-dev.csv/sts-test.csv, the GLUE STS-B folder with "
           "train.tsv/dev.tsv/test.tsv, or a .csv/.tsv/.json/.jsonl file with sentence1,sentence2[,label]")
PATH_NOT_FOUND = "STS-B path {path} does not exist. Pass " + LAYOUTS + ", or a Hub dataset id."
FOLDER_WITHOUT_FILES = "STS-B folder {path} has neither sts-{split}.csv nor {split}.tsv. Pass " + LAYOUTS + "."
UNKNOWN_SPLIT = "Unknown STS-B split '{split}'. Available: train, dev, test."
SHORT_ROW = ("{path}, line {line}: expected at least 7 tab-separated fields (genre, file, year, id, score, sentence1, "
             "sentence2), found {found}. Fix or remove that line.")
BAD_SCORE = "{path}, line {line}: similarity score must be a number, got {value!r}."
SCORE_OUT_OF_RANGE = ("{path}, line {line}: similarity score {value!r} is not a finite number from 0 to 5 (the STS-B "
                      "scale). Fix the score, or leave the field empty for a pair without gold.")
HUB_SCORE_OUT_OF_RANGE = ("Hub dataset {dataset} ({split} split), row {row}: similarity score {value!r} is not a finite "
                          "number from 0 to 5 (the STS-B scale). Pass a local copy with the scores fixed.")
MISSING_COLUMNS = "{path} is missing column(s) {missing} (found: {found}). STS-B tables need sentence1, sentence2 and optionally label or score."
EMPTY = "{path} holds no sentence pairs."
BAD_JSON = "{path} is not valid JSON ({error})."
BAD_TABLE_LINE = "{path}: {error}. Fix or remove that line."
TABLE_ROW_FIELDS = ("{path}, line {line}: expected {expected} fields (as many as the header), found {found}. Fix or "
                    "remove that line.")
NOT_A_SENTENCE = ("{path}, line {record}: {column} must be a sentence (text), got {value}. Fix or remove that "
                  "record.")
UNSUPPORTED_FILE = "STS-B file {path} must end in .csv, .tsv, .json or .jsonl."

_HUB_SPLIT = {"train": "train", "dev": "validation", "test": "test"}
MIN_SCORE, MAX_SCORE = 0.0, 5.0  # STS-B gold similarity


def _frame(s1, s2, labels, source: str, lines) -> pd.DataFrame:
    return pd.DataFrame({"sentence1": list(s1), "sentence2": list(s2), "label": np.asarray(labels, dtype=float),
                         "source": source, "line": list(lines)})


def _score(value: str, path: Path, line: int) -> float:
    text = value.strip()
    if not text:
        return float("nan")
    try:
        score = float(text)
    except ValueError:
        raise UsageError(BAD_SCORE.format(path=path, line=line, value=value)) from None
    return _check_score(score, value, path, line)


def _check_score(score: float, value, path, line) -> float:
    if not MIN_SCORE <= score <= MAX_SCORE:  # NaN and inf fail too
        raise UsageError(SCORE_OUT_OF_RANGE.format(path=path, line=line, value=value))
    return score


def read_sts_benchmark_file(path: Path) -> pd.DataFrame:
    s1, s2, labels, lines = [], [], [], []
    with open_text(path, newline="") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip("\n").rstrip("\r")
            if not raw.strip():
                continue
            fields = raw.split("\t")
            if len(fields) < 7:
                raise UsageError(SHORT_ROW.format(path=path, line=number, found=len(fields)))
            labels.append(_score(fields[4], path, number))
            s1.append(fields[5])
            s2.append(fields[6])
            lines.append(number)
    return _frame(s1, s2, labels, str(path), lines)


def _read_table(path: Path, sep: str) -> pd.DataFrame:
    """A table with a header: GLUE tsv, or a user's csv/tsv/json(l)."""
    if path.suffix in (".json", ".jsonl"):
        try:
            frame = pd.read_json(open_text(path), lines=path.suffix == ".jsonl" or _is_json_lines(path))
        except ValueError as err:
            raise UsageError(BAD_JSON.format(path=path, error=err)) from None
        lines = np.arange(len(frame)) + 1
    else:
        quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
        _check_field_counts(path, sep, quoting)
        try:
            frame = pd.read_csv(open_text(path, newline=""), sep=sep, quoting=quoting, dtype=str, keep_default_na=False,
                                on_bad_lines="error")
        except pd.errors.EmptyDataError:
            raise UsageError(EMPTY.format(path=path)) from None
        except pd.errors.ParserError as err:
            raise UsageError(BAD_TABLE_LINE.format(path=path, error=err)) from None
        lines = np.arange(len(frame)) + 2
    frame.columns = [str(c).strip() for c in frame.columns]
    label_column = "label" if "label" in frame.columns else "score" if "score" in frame.columns else None
    missing = [c for c in ("sentence1", "sentence2") if c not in frame.columns]
    if missing:
        raise UsageError(MISSING_COLUMNS.format(path=path, missing=", ".join(missing),
                                                found=shown_columns(frame.columns)))
    # A JSON record without a sentence (or with null, or a number) would otherwise read as the text "nan" or "5".
    not_text = frame[["sentence1", "sentence2"]].map(lambda value: not isinstance(value, str)).to_numpy()  # (N, 2)
    if not_text.any():
        row, col = (int(i[0]) for i in np.nonzero(not_text))
        column = ("sentence1", "sentence2")[col]
        value = frame[column].iloc[row]
        shown = "no value" if pd.isna(value) else repr(value.item() if isinstance(value, np.generic) else value)
        raise UsageError(NOT_A_SENTENCE.format(path=path, record=int(lines[row]), column=column, value=shown))
    labels = [float("nan")] * len(frame) if label_column is None else \
        [_score("" if pd.isna(v) else str(v), path, int(n)) for v, n in zip(frame[label_column], lines)]  # JSON null
    return _frame(frame["sentence1"], frame["sentence2"], labels, str(path), lines)


def _check_field_counts(path: Path, sep: str, quoting: int) -> None:
    """Every row has the header's field count. pandas pads a shorter row with empty strings (a lone sentence1 became
    a pair with an empty sentence2) and reports a longer one without its file: count them the way pandas splits."""
    with open_text(path, newline="") as handle:
        reader = csv.reader(handle, delimiter=sep, quoting=quoting)
        header = next(reader, None)
        if header is None:
            return
        for row in reader:
            if row and len(row) != len(header):
                raise UsageError(TABLE_ROW_FIELDS.format(path=path, line=reader.line_num, expected=len(header),
                                                         found=len(row)))


def _is_json_lines(path: Path) -> bool:
    return not read_text(path).lstrip().startswith("[")


def load_stsb(source: str | os.PathLike, split: str = "test", *, hub_config: str | None = None) -> pd.DataFrame:
    """Load one STS-B split from any supported layout as ``sentence1, sentence2, label, source, line``."""
    if split not in SPLITS:
        raise UsageError(UNKNOWN_SPLIT.format(split=split))
    path = Path(source)
    if path.exists():
        frame = _load_local(path, split)
    elif looks_like_hub_id(str(source)) and not str(source).startswith((".", "/", "~")):
        frame = _load_hub(str(source), split, hub_config)
    else:
        raise UsageError(PATH_NOT_FOUND.format(path=path))
    if frame.empty:
        raise UsageError(EMPTY.format(path=source))
    return frame


def _load_local(path: Path, split: str) -> pd.DataFrame:
    if path.is_dir():
        original, glue = path / f"sts-{split}.csv", path / f"{split}.tsv"
        if original.is_file():
            return read_sts_benchmark_file(original)
        if glue.is_file():
            return _read_table(glue, "\t")
        raise UsageError(FOLDER_WITHOUT_FILES.format(path=path, split=split))
    suffix = path.suffix.lower()
    if suffix == ".csv" and _first_line_lacks_header(path):
        return read_sts_benchmark_file(path)  # a single original sts-*.csv file
    if suffix not in (".csv", ".tsv", ".json", ".jsonl"):
        raise UsageError(UNSUPPORTED_FILE.format(path=path))
    return _read_table(path, "\t" if suffix == ".tsv" or _has_tab_header(path) else ",")


def _first_line(path: Path) -> str:
    return open_text(path).readline()


def _first_line_lacks_header(path: Path) -> bool:
    first = _first_line(path)
    return "sentence1" not in first and first.count("\t") >= 6


def _has_tab_header(path: Path) -> bool:
    return "\t" in _first_line(path)


def _load_hub(dataset: str, split: str, config: str | None) -> pd.DataFrame:
    if config is None and dataset.split("/")[-1] == "glue":
        config = "stsb"
    data = load_hub_dataset(dataset, config, _HUB_SPLIT[split], layouts=LAYOUTS).to_pandas()
    label_column = "label" if "label" in data.columns else "score" if "score" in data.columns else None
    labels = data[label_column].astype(float).to_numpy() if label_column else np.full(len(data), np.nan)
    if label_column and labels.max(initial=0) <= 1.0 and "score" in data.columns:
        labels = labels * 5.0  # sentence-transformers/stsb stores scores in [0, 1]
    labels = np.where(labels < 0, np.nan, labels)  # GLUE's test split marks missing gold with -1
    bad = np.flatnonzero(np.isinf(labels) | (labels > MAX_SCORE))
    if len(bad):
        raise UsageError(HUB_SCORE_OUT_OF_RANGE.format(dataset=dataset, split=_HUB_SPLIT[split], row=int(bad[0]),
                                                       value=float(labels[bad[0]])))
    missing = [c for c in ("sentence1", "sentence2") if c not in data.columns]
    if missing:
        raise UsageError(MISSING_COLUMNS.format(path=dataset, missing=", ".join(missing), found=", ".join(data.columns)))
    return _frame(data["sentence1"], data["sentence2"], labels, f"hub:{dataset}", np.arange(len(data)))
