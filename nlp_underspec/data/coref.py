"""The candidate format for pronoun resolution, shared by training data, the coref head and Winogender.

One example is a text, the character span of one pronoun, the character spans of its candidate antecedents, and the
index of the gold candidate (``None`` when unknown). As JSON Lines, one object per line::

    {"id": "ex1", "text": "The nurse told the patient that she would help.",
     "pronoun": [32, 35], "candidates": [[4, 9], [19, 26]], "label": 0}

Spans are ``[start, end)`` character offsets into ``text``. Gold answers are indices into ``candidates``; for
Winogender, candidate 0 is the occupation and candidate 1 the participant (its ``answer`` column uses the same code).
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from nlp_underspec.errors import UsageError

Span = tuple[int, int]

JSONL_NOT_FOUND = "Candidate file {path} does not exist. Pass a JSON Lines file in the candidate format (see nlp_underspec.data.coref)."
JSONL_BAD_JSON = "{path}, line {line}: not valid JSON ({error})."
JSONL_MISSING_FIELD = "{path}, line {line}: missing field '{field}'. Each line needs text, pronoun, candidates and label."
BAD_SPAN = "{where}: {what} span {span} is not a [start, end) pair inside the text (length {length})."
TOO_FEW_CANDIDATES = "{where}: needs at least 2 candidates, got {count}."
BAD_LABEL = "{where}: label {label!r} is not an index into its {count} candidates (an integer from 0 to {last})."


@dataclass(frozen=True)
class CorefExample:
    text: str
    pronoun: Span
    candidates: tuple[Span, ...]
    label: int | None = None
    id: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def span_text(self, span: Span) -> str:
        return self.text[span[0]:span[1]]

    def validate(self, where: str) -> "CorefExample":
        n = len(self.text)
        for what, span in (("pronoun", self.pronoun), *(("candidate", c) for c in self.candidates)):
            if len(span) != 2 or not (0 <= span[0] < span[1] <= n):
                raise UsageError(BAD_SPAN.format(where=where, what=what, span=list(span), length=n))
        if len(self.candidates) < 2:
            raise UsageError(TOO_FEW_CANDIDATES.format(where=where, count=len(self.candidates)))
        # An integer only: 0.5 or "1" would pass a range check and be cast to a candidate nobody chose.
        is_index = isinstance(self.label, numbers.Integral) and not isinstance(self.label, bool)
        if self.label is not None and not (is_index and 0 <= self.label < len(self.candidates)):
            raise UsageError(BAD_LABEL.format(where=where, label=self.label, count=len(self.candidates),
                                              last=len(self.candidates) - 1))
        return self


def read_candidate_jsonl(path: str | os.PathLike) -> list[CorefExample]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(JSONL_NOT_FOUND.format(path=path))
    examples = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UsageError(JSONL_BAD_JSON.format(path=path, line=line_number, error=err.msg)) from None
            for key in ("text", "pronoun", "candidates", "label"):
                if key not in row:
                    raise UsageError(JSONL_MISSING_FIELD.format(path=path, line=line_number, field=key))
            example = CorefExample(text=row["text"], pronoun=tuple(row["pronoun"]),
                                   candidates=tuple(tuple(c) for c in row["candidates"]), label=row["label"],
                                   id=str(row.get("id", line_number)))
            examples.append(example.validate(f"{path}, line {line_number}"))
    return examples


def write_candidate_jsonl(path: str | os.PathLike, examples: Iterable[CorefExample]) -> Path:
    from nlp_underspec.io import atomic_write_text

    lines = [json.dumps({"id": e.id, "text": e.text, "pronoun": list(e.pronoun),
                         "candidates": [list(c) for c in e.candidates], "label": e.label}) for e in examples]
    return atomic_write_text(path, "\n".join(lines) + "\n")
