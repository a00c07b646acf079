"""The GAP loader (Webster et al. 2018, Gendered Ambiguous Pronouns): Wikipedia passages as candidate examples.

Layout (github.com/google-research-datasets/gap-coreference): ``gap-development.tsv``, ``gap-validation.tsv``,
``gap-test.tsv``, tab-separated with a header ``ID, Text, Pronoun, Pronoun-offset, A, A-offset, A-coref, B, B-offset,
B-coref, URL``. Offsets are character offsets into ``Text``. Splits: ``train`` = development, ``dev`` = validation,
``test`` = test (GAP's own advice: develop on development, tune on validation).

Each row becomes a :class:`~nlp_underspec.data.coref.CorefExample` with candidates ``(A, B)`` and label 0 when A is
the antecedent, 1 when B is. **Rows where neither name is the antecedent are dropped** (about 10% of GAP), and the
count is logged: the candidate format has no span for "neither", and the occupation stress set (Rudinger et al.
2018), which this head is meant to resolve, always has the answer among its two candidates. A row marking both as
antecedents, an offset that does not point at the quoted mention, or a malformed field is an error naming the file and
line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nlp_underspec.data.coref import CorefExample
from nlp_underspec.errors import UsageError
from nlp_underspec.tables import read_tsv

logger = logging.getLogger(__name__)

COLUMNS = ("ID", "Text", "Pronoun", "Pronoun-offset", "A", "A-offset", "A-coref", "B", "B-offset", "B-coref")
SPLIT_FILES = {"train": "gap-development.tsv", "dev": "gap-validation.tsv", "test": "gap-test.tsv"}
HINT = "Expected a GAP file (columns ID, Text, Pronoun, Pronoun-offset, A, A-offset, A-coref, B, B-offset, B-coref, URL)."

GAP_NOT_FOUND = ("GAP path {path} does not exist. Pass the GAP folder (gap-development.tsv, gap-validation.tsv, "
                 "gap-test.tsv) or one of its files.")
GAP_SPLIT_MISSING = "GAP folder {path} has no {file} (the '{split}' split). Pass the folder holding the GAP files."
UNKNOWN_SPLIT = "Unknown GAP split '{split}'. Available: train (development), dev (validation), test."
BAD_OFFSET = "{path}, line {line}: {column} must be a non-negative integer, got {value!r}."
OFFSET_MISMATCH = ("{path}, line {line}: {what} '{mention}' is not at offset {offset} of the text (found {found!r}). "
                   "Fix the offset or the mention.")
BAD_COREF = "{path}, line {line}: {column} must be TRUE or FALSE, got {value!r}."
BOTH_ANTECEDENTS = "{path}, line {line}: A-coref and B-coref are both TRUE; at most one name can be the antecedent."
NO_ROWS = "{path} holds no GAP rows."


def gap_file(source: str | os.PathLike, split: str) -> Path:
    """The file for ``split`` inside a GAP folder, or ``source`` itself when it is a file."""
    if split not in SPLIT_FILES:
        raise UsageError(UNKNOWN_SPLIT.format(split=split))
    path = Path(source)
    if not path.exists():
        raise UsageError(GAP_NOT_FOUND.format(path=path))
    if path.is_dir():
        file = path / SPLIT_FILES[split]
        if not file.is_file():
            raise UsageError(GAP_SPLIT_MISSING.format(path=path, file=SPLIT_FILES[split], split=split))
        return file
    return path


def _offset(value: str, column: str, path: Path, line: int) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise UsageError(BAD_OFFSET.format(path=path, line=line, column=column, value=value))
    return int(text)


def _coref_flag(value: str, column: str, path: Path, line: int) -> bool:
    text = str(value).strip().upper()
    if text not in ("TRUE", "FALSE"):
        raise UsageError(BAD_COREF.format(path=path, line=line, column=column, value=value))
    return text == "TRUE"


def _span(text: str, mention: str, offset: int, what: str, path: Path, line: int) -> tuple[int, int]:
    found = text[offset:offset + len(mention)]
    if not mention or found != mention:
        raise UsageError(OFFSET_MISMATCH.format(path=path, line=line, what=what, mention=mention, offset=offset,
                                                found=found))
    return offset, offset + len(mention)


def _row_example(row: dict, path: Path, line: int) -> CorefExample | None:
    text = row["Text"]
    pronoun = _span(text, row["Pronoun"], _offset(row["Pronoun-offset"], "Pronoun-offset", path, line), "pronoun",
                    path, line)
    a = _span(text, row["A"], _offset(row["A-offset"], "A-offset", path, line), "name A", path, line)
    b = _span(text, row["B"], _offset(row["B-offset"], "B-offset", path, line), "name B", path, line)
    a_coref = _coref_flag(row["A-coref"], "A-coref", path, line)
    b_coref = _coref_flag(row["B-coref"], "B-coref", path, line)
    if a_coref and b_coref:
        raise UsageError(BOTH_ANTECEDENTS.format(path=path, line=line))
    if not (a_coref or b_coref):
        return None
    return CorefExample(text=text, pronoun=pronoun, candidates=(a, b), label=0 if a_coref else 1, id=row["ID"],
                        meta={"pronoun_text": row["Pronoun"], "url": row.get("URL", "")})


def load_gap(source: str | os.PathLike, split: str = "train") -> list[CorefExample]:
    """GAP rows of one split as candidate examples (candidates A, B); rows with neither antecedent are dropped."""
    path = gap_file(source, split)
    frame = read_tsv(path, required=COLUMNS, hint=HINT)
    if frame.empty:
        raise UsageError(NO_ROWS.format(path=path))
    examples, dropped = [], 0
    for index, row in enumerate(frame.to_dict("records")):
        line = index + frame.attrs.get("first_line", 2)
        example = _row_example(row, path, line)
        if example is None:
            dropped += 1
            continue
        examples.append(example.validate(f"{path}, line {line}"))
    logger.info("GAP %s: %d examples, %d rows dropped because neither A nor B is the antecedent",
                path.name, len(examples), dropped)
    return examples
