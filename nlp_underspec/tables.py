"""Reading user-supplied tab-separated tables with errors that name the file and line.

pandas' parser reports "Expected 3 fields in line 5, saw 4" without the file and gives up on quotes inside sentences;
the csv module with quoting off, and a strict field count, gives the user an exact place to look. The bytes are decoded
by :mod:`nlp_underspec.textio` (BOM'd UTF-8 and UTF-16 read, anything else that is not UTF-8 refused), and a header
quoted in an error shows its invisible characters.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from nlp_underspec.errors import UsageError
from nlp_underspec.textio import open_text, visible

FILE_NOT_FOUND = "{path} does not exist. {hint}"
IS_A_FOLDER = "{path} is a folder, not a file. {hint}"
FILE_EMPTY = "{path} is empty: expected a header line with columns {columns}."
MISSING_COLUMNS = "{path} is missing column(s) {missing} (found: {found}). {hint}"
BAD_ROW = "{path}, line {line}: expected {expected} tab-separated fields, found {found}. Fix or remove that line."
BAD_VALUE = "{path}, line {line}: column '{column}' must be {kind}, got {value!r}."
DUPLICATE_COLUMN = ("{path}: the header names column '{column}' twice (fields {first} and {second}), so which one is "
                    "meant is unknown. Rename or remove one of them.")


def read_tsv(path: str | os.PathLike, *, required: Sequence[str] = (), hint: str = "",
             extra_fields: str = "error") -> pd.DataFrame:
    """Read a TSV with a header into string columns; every row must have the header's field count.

    ``extra_fields="truncate"`` keeps the first ``len(header)`` fields of longer rows (STS-B's trailing columns).
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(IS_A_FOLDER.format(path=path, hint=hint).strip())
    if not path.is_file():
        raise UsageError(FILE_NOT_FOUND.format(path=path, hint=hint).strip())
    with open_text(path, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise UsageError(FILE_EMPTY.format(path=path, columns=", ".join(required) or "(any)"))
        header = [h.strip() for h in header]
        check_unique_columns(header, path)
        missing = [c for c in required if c not in header]
        if missing:
            raise UsageError(MISSING_COLUMNS.format(path=path, missing=", ".join(missing), found=shown_columns(header),
                                                    hint=hint).strip())
        rows = []
        for line_number, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines, e.g. a trailing newline
            if len(row) != len(header):
                if len(row) > len(header) and extra_fields == "truncate":
                    row = row[: len(header)]
                else:
                    raise UsageError(BAD_ROW.format(path=path, line=line_number, expected=len(header), found=len(row)))
            rows.append(row)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame.attrs["source"] = str(path)
    frame.attrs["first_line"] = 2
    return frame


def check_unique_columns(header: Sequence[str], path: Path) -> None:
    """Refuse a header that names a column twice: pandas would hand every reader a two-column frame where it expects
    one column, and fail deep inside with "the truth value of a Series is ambiguous"."""
    first_field: dict[str, int] = {}
    for field, column in enumerate(header, start=1):
        if column in first_field:
            raise UsageError(DUPLICATE_COLUMN.format(path=path, column=visible(column), first=first_field[column],
                                                     second=field))
        first_field[column] = field


def to_numeric_column(frame: pd.DataFrame, column: str, *, kind: str = "a number", integer: bool = False,
                      required: bool = False) -> pd.Series:
    """Convert one string column, naming the file and line of the first value that is not a number (an empty value is
    missing, allowed unless ``required``)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() if required else values.isna() & frame[column].astype(str).str.strip().ne("")
    if integer:  # also past int64, which the cast below cannot hold (a 20-digit "seed" was a TypeError)
        bad |= values.notna() & ((values != values.round()) | (values.abs() >= 2.0**63))
    if bad.any():
        index = int(bad.to_numpy().nonzero()[0][0])
        raise UsageError(BAD_VALUE.format(path=frame.attrs.get("source", "<table>"),
                                          line=index + frame.attrs.get("first_line", 2), column=column, kind=kind,
                                          value=frame[column].iloc[index]))
    return values.astype("Int64") if integer else values.astype(float)


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a TSV that :func:`read_tsv` reads back (no quoting; tabs and newlines inside values are refused)."""
    for column in frame.columns:
        if frame[column].dtype == object:
            text = frame[column].dropna().astype(str)
            if text.str.contains("[\t\n\r]", regex=True).any():
                raise ValueError(f"column {column!r} holds a tab or newline, which a TSV cannot carry")
    frame.to_csv(path, sep="\t", index=False, na_rep="", quoting=csv.QUOTE_NONE, escapechar=None)


def shown_columns(columns: Iterable[object]) -> str:
    """Column names as read, for "found: ..." (a zero-width space or a stray BOM in a header is otherwise invisible)."""
    return ", ".join(visible(str(c)) for c in columns)


def ensure_columns(frame: pd.DataFrame, required: Iterable[str], *, where: str, hint: str = "") -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise UsageError(MISSING_COLUMNS.format(path=where, missing=", ".join(missing),
                                                found=shown_columns(frame.columns), hint=hint).strip())
