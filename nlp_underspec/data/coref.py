"""The candidate format for pronoun resolution, shared by training data, the coref head and the occupation stress set.

One example is a text, the character span of one pronoun, the character spans of its candidate antecedents, and the
index of the gold candidate (``None`` when unknown). As JSON Lines, one object per line::

    {"id": "ex1", "text": "The nurse told the patient that she would help.",
     "pronoun": [32, 35], "candidates": [[4, 9], [19, 26]], "label": 0}

Spans are ``[start, end)`` character offsets into ``text``. Gold answers are indices into ``candidates``; in the
occupation stress set (Rudinger et al. 2018), candidate 0 is the occupation and candidate 1 the participant (its
``answer`` column uses the same code).
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_text
from nlp_underspec.textio import open_text

Span = tuple[int, int]

JSONL_NOT_FOUND = "Candidate file {path} does not exist. Pass a JSON Lines file in the candidate format (see nlp_underspec.data.coref)."
JSONL_BAD_JSON = "{path}, line {line}: not valid JSON ({error})."
JSONL_NOT_OBJECT = "{path}, line {line}: expected a JSON object with text, pronoun, candidates and label, got {kind}."
JSONL_BAD_FIELD = "{path}, line {line}: '{field}' must be {expected}, got {value}."
JSONL_MISSING_FIELD = "{path}, line {line}: missing field '{field}'. Each line needs text, pronoun, candidates and label."
BAD_SPAN = "{where}: {what} span {span} is not a [start, end) pair inside the text (length {length})."
TOO_FEW_CANDIDATES = "{where}: needs at least 2 candidates, got {count}."
PRONOUN_IN_CANDIDATE = ("{where}: the pronoun span {pronoun} overlaps candidate {index}'s span {span}, but a pronoun "
                        "is never part of its own antecedent. Fix the offsets, or remove that line.")
SAME_CANDIDATES = ("{where}: candidates {first} and {second} are the same span {span}, so a label naming one names "
                   "both. Remove one of them (and renumber the label).")
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

    def candidate_name(self, index: int) -> str:
        """Candidate ``index`` as the data names it (``meta["candidate_text"]``, when a loader located a shorter
        mention: "the brown suitcase" named "the suitcase"), else the words at its span."""
        named = self.meta.get("candidate_text")
        return str(named[index]) if named else self.span_text(self.candidates[index])

    def validate(self, where: str) -> "CorefExample":
        n = len(self.text)
        for what, span in (("pronoun", self.pronoun), *(("candidate", c) for c in self.candidates)):
            if len(span) != 2 or not (0 <= span[0] < span[1] <= n):
                raise UsageError(BAD_SPAN.format(where=where, what=what, span=list(span), length=n))
        if len(self.candidates) < 2:
            raise UsageError(TOO_FEW_CANDIDATES.format(where=where, count=len(self.candidates)))
        self._check_distinct_spans(where)
        # An integer only: 0.5 or "1" would pass a range check and be cast to a candidate nobody chose.
        is_index = isinstance(self.label, numbers.Integral) and not isinstance(self.label, bool)
        if self.label is not None and not (is_index and 0 <= self.label < len(self.candidates)):
            raise UsageError(BAD_LABEL.format(where=where, label=self.label, count=len(self.candidates),
                                              last=len(self.candidates) - 1))
        return self

    def _check_distinct_spans(self, where: str) -> None:
        """The pronoun apart from every candidate, and no candidate twice: either would train a contradiction (the
        pronoun scored as its own antecedent, or one span both gold and wrong) to "complete" without a word."""
        start, end = self.pronoun
        for index, span in enumerate(self.candidates):
            if span[0] < end and start < span[1]:
                raise UsageError(PRONOUN_IN_CANDIDATE.format(where=where, pronoun=list(self.pronoun), index=index,
                                                             span=list(span)))
        first_index: dict[tuple, int] = {}
        for index, span in enumerate(self.candidates):
            if tuple(span) in first_index:
                raise UsageError(SAME_CANDIDATES.format(where=where, first=first_index[tuple(span)], second=index,
                                                        span=list(span)))
            first_index[tuple(span)] = index


def read_candidate_jsonl(path: str | os.PathLike) -> list[CorefExample]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(JSONL_NOT_FOUND.format(path=path))
    examples = []
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UsageError(JSONL_BAD_JSON.format(path=path, line=line_number, error=err.msg)) from None
            examples.append(_jsonl_example(row, path, line_number))
    return examples


def _jsonl_example(row, path: Path, line: int) -> CorefExample:
    """One JSON Lines object as an example; wrong types are named here (validate checks spans against the text)."""
    if not isinstance(row, dict):
        raise UsageError(JSONL_NOT_OBJECT.format(path=path, line=line, kind=f"a JSON {json_kind(row)}"))
    for key in ("text", "pronoun", "candidates", "label"):
        if key not in row:
            raise UsageError(JSONL_MISSING_FIELD.format(path=path, line=line, field=key))

    def bad(field: str, expected: str) -> UsageError:
        return UsageError(JSONL_BAD_FIELD.format(path=path, line=line, field=field, expected=expected,
                                                 value=json.dumps(row[field])[:80]))

    if not isinstance(row["text"], str):
        raise bad("text", "a string")
    if not _is_span(row["pronoun"]):
        raise bad("pronoun", "a [start, end] pair of integers")
    if not isinstance(row["candidates"], list) or not all(_is_span(c) for c in row["candidates"]):
        raise bad("candidates", "a list of [start, end] pairs of integers")
    # The label's type and range are one rule, CorefExample.validate's (an index into the candidates, or null).
    example = CorefExample(text=row["text"], pronoun=tuple(row["pronoun"]),
                           candidates=tuple(tuple(c) for c in row["candidates"]), label=row["label"],
                           id=str(row.get("id", line)))
    return example.validate(f"{path}, line {line}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_span(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value)


def json_kind(value) -> str:
    """The JSON type name of a parsed value, for messages that say what a field held instead."""
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def write_candidate_jsonl(path: str | os.PathLike, examples: Iterable[CorefExample]) -> Path:
    lines = [json.dumps({"id": e.id, "text": e.text, "pronoun": list(e.pronoun),
                         "candidates": [list(c) for c in e.candidates], "label": e.label}) for e in examples]
    return atomic_write_text(path, "\n".join(lines) + "\n")
