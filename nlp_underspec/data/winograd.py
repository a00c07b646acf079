"""Loaders for Winograd-style pronoun data (DPR, WSC273, WikiCREM, WinoGrande) into the candidate format.

Two layouts are read:

- **4-line blocks** (:func:`read_block_file`; DPR ``train.c.txt``/``test.c.txt``, ``wsc273.txt``,
  ``WikiCREM_dev.txt``): blocks separated by one or more blank lines, each of exactly 4 lines::

      The bee landed on the flower because it had pollen.
      it
      The bee,the flower
      the flower

  the sentence; the pronoun as written in it (DPR) or ``[MASK]`` (WSC273, WikiCREM: the sentence then holds ``[MASK]``
  where the pronoun or name was); the two candidates separated by one comma; the correct candidate. Every line is
  stripped, and candidates and answer are compared case-insensitively (WSC273 writes ``The city councilmen ,The
  demonstrators `` for a sentence with "the demonstrators").
- **WinoGrande JSON Lines** (:func:`read_winogrande_jsonl`; ``train_xl.jsonl``, ``dev.jsonl``, ``wsc-273.jsonl``):
  one object a line with ``sentence`` (holding exactly one ``_``), ``option1``, ``option2``, ``answer`` (``"1"`` or
  ``"2"``, a string or an integer) and an optional ``qID``.

**Blanks.** A blank (``[MASK]`` in a block, ``_`` in WinoGrande) is written into the example's text as one underscore
``_``, and the pronoun span is that underscore: a literal ``[MASK]`` would otherwise reach a BERT tokenizer as its mask
token. Blank examples carry ``meta={"blank": True}``, pronoun examples ``{"blank": False}``. A DPR pronoun is its
first whole-word, case-insensitive occurrence in the sentence; a pronoun that occurs more than once (about 3% of DPR,
e.g. "it ... it") is taken at its first occurrence, which is not always the one the problem is about.

**Candidates** are located as whole-word (``\\b`` where a candidate starts or ends with a word character),
case-insensitive matches that do not overlap the pronoun: the occurrence nearest before the pronoun, else the first
after it. Labels are 0 when the answer is candidate 1, 1 when it is candidate 2. (``wsc273.txt`` and
``WikiCREM_dev.txt`` always list the answer first, so every label there is 0: a resolver trained on them alone can
score perfectly by always choosing candidate 0.)

**Skipped.** An example with a candidate that does not occur in its sentence (WSC273's "the suitcase" for "the brown
suitcase", WinoGrande's "cup" for "cups") has no span to give it and is skipped; each file logs one warning with the
count and the first such line. Anything else malformed (a block of other than 4 lines, a bad candidate line, an answer
that is neither candidate, a sentence without its pronoun or blank, bad JSON or fields) is an error naming the file
and line. Ids are ``line{N}`` (the block's or row's first line) or WinoGrande's ``qID``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Iterator

from nlp_underspec.data.coref import CorefExample, Span, _json_kind
from nlp_underspec.errors import UsageError
from nlp_underspec.textio import open_text

logger = logging.getLogger(__name__)

MASK = "[MASK]"
BLANK = "_"
BLOCK_SHAPE = "the sentence, the pronoun or [MASK], 'candidate 1,candidate 2', the correct candidate"

NOT_FOUND = "Winograd file {path} does not exist. Pass a 4-line block .txt file or a WinoGrande .jsonl file."
BLOCK_EMPTY = "{path} holds no blocks. Expected blocks of 4 lines (" + BLOCK_SHAPE + ") separated by blank lines."
BLOCK_WRONG_LINES = ("{path}, line {line}: this block has {count} lines, but a block is 4 lines (" + BLOCK_SHAPE +
                     ") followed by a blank line. Add or remove lines, or the blank line between two blocks.")
BAD_CANDIDATES = ("{path}, line {line}: expected two non-empty candidates separated by one comma, got {value!r}. A "
                  "candidate that itself contains a comma cannot be told apart from two candidates, so rephrase it "
                  "without the comma.")
ANSWER_NOT_CANDIDATE = ("{path}, line {line}: the answer {answer!r} is neither candidate ({first!r} or {second!r}). "
                        "Make it one of the two candidates (case and surrounding spaces do not matter).")
PRONOUN_NOT_IN_SENTENCE = ("{path}, line {line}: the pronoun {pronoun!r} on the next line does not occur as a word in "
                           "this sentence. Fix the sentence or the pronoun.")
BLANK_COUNT = ("{path}, line {line}: the sentence holds {blank} {count} times, but a blank example holds it exactly "
               "once (where a candidate fills in). Fix the sentence.")
SKIPPED = "{file}: {n} of {m} examples skipped: a candidate does not occur in its sentence (first at line {line})"

WG_FIELDS = ("sentence", "option1", "option2", "answer")
WG_EMPTY = "{path} holds no WinoGrande rows. Expected one JSON object a line with sentence, option1, option2, answer."
WG_BAD_JSON = "{path}, line {line}: not valid JSON ({error})."
WG_NOT_OBJECT = "{path}, line {line}: expected a JSON object with sentence, option1, option2 and answer, got {kind}."
WG_MISSING_FIELD = ("{path}, line {line}: missing field '{field}'. Each line needs sentence, option1, option2 and "
                    "answer.")
WG_BAD_ANSWER = "{path}, line {line}: answer must be 1 or 2 (a string or an integer), got {value}."
WG_BAD_OPTION = "{path}, line {line}: '{field}' must be a non-empty string, got {value}."
WG_BAD_SENTENCE = "{path}, line {line}: 'sentence' must be a string, got {value}."


# ------------------------------------------------------------------------------------------------- shared helpers


def _checked(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UsageError(NOT_FOUND.format(path=path))
    return path


def _phrase_pattern(phrase: str) -> re.Pattern:
    """A case-insensitive match of ``phrase`` as whole words: \\b only where it starts or ends with a word character,
    because \\b before "'s" or after "Jr." would never match."""
    start = r"\b" if re.match(r"\w", phrase[:1]) else ""
    end = r"\b" if re.match(r"\w", phrase[-1:]) else ""
    return re.compile(start + re.escape(phrase) + end, re.IGNORECASE)


def locate_candidate(text: str, candidate: str, pronoun: Span) -> Span | None:
    """The span of ``candidate`` in ``text`` nearest before the pronoun, else the first after it; ``None`` when it
    occurs nowhere apart from the pronoun. Winograd antecedents usually precede the pronoun, and the nearest one is
    the mention the sentence's clause structure ties to it."""
    before, after = None, None
    for match in _phrase_pattern(candidate).finditer(text):
        if match.end() <= pronoun[0]:
            before = match.span()
        elif match.start() >= pronoun[1] and after is None:
            after = match.span()
    return before or after


def _example(text: str, pronoun: Span, candidates: tuple[str, str], answer: int, id: str, blank: bool,
             where: str) -> CorefExample | None:
    """One validated example, or ``None`` when a candidate has no span (the caller counts and skips it)."""
    spans = tuple(locate_candidate(text, c, pronoun) for c in candidates)
    if None in spans:
        return None
    return CorefExample(text=text, pronoun=pronoun, candidates=spans, label=answer, id=id,
                        meta={"blank": blank}).validate(where)


def _warn_skipped(path: Path, skipped: list[int], total: int) -> None:
    if skipped:
        logger.warning(SKIPPED.format(file=path, n=len(skipped), m=total, line=skipped[0]))


# ------------------------------------------------------------------------------------------------- 4-line blocks


def _blocks(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, lines)`` for each run of non-blank lines; any number of blank lines separates two."""
    block, first = [], 0
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if line.strip():
                if not block:
                    first = number
                block.append(line)
            elif block:
                yield first, block
                block = []
    if block:  # the last block may lack its closing blank line
        yield first, block


def _split_candidates(value: str, path: Path, line: int) -> tuple[str, str]:
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 2 or not all(parts):
        raise UsageError(BAD_CANDIDATES.format(path=path, line=line, value=value))
    return parts[0], parts[1]


def _answer_index(answer: str, candidates: tuple[str, str], path: Path, line: int) -> int:
    folded = [c.casefold() for c in candidates]
    if answer.strip().casefold() not in folded:
        raise UsageError(ANSWER_NOT_CANDIDATE.format(path=path, line=line, answer=answer, first=candidates[0],
                                                     second=candidates[1]))
    return folded.index(answer.strip().casefold())


def _blank_text(sentence: str, marker: str, path: Path, line: int) -> tuple[str, Span]:
    """The sentence with its one blank written as ``_``, and the blank's span."""
    count = sentence.count(marker)
    if count != 1:
        raise UsageError(BLANK_COUNT.format(path=path, line=line, count=count, blank=marker))
    start = sentence.index(marker)
    return sentence[:start] + BLANK + sentence[start + len(marker):], (start, start + 1)


def _pronoun_span(sentence: str, pronoun: str, path: Path, line: int) -> tuple[Span, int]:
    """The first whole-word occurrence of the pronoun, and how many there are (more than one is counted)."""
    matches = list(_phrase_pattern(pronoun).finditer(sentence))
    if not matches:
        raise UsageError(PRONOUN_NOT_IN_SENTENCE.format(path=path, line=line, pronoun=pronoun))
    return matches[0].span(), len(matches)


def _block_example(lines: list[str], path: Path, first: int) -> tuple[CorefExample | None, int]:
    """One block as ``(example or None when a candidate is absent, occurrences of its pronoun)``."""
    if len(lines) != 4:
        raise UsageError(BLOCK_WRONG_LINES.format(path=path, line=first, count=len(lines)))
    sentence, pronoun, candidate_line, answer = (line.strip() for line in lines)
    candidates = _split_candidates(candidate_line, path, first + 2)
    label = _answer_index(answer, candidates, path, first + 3)
    blank = pronoun == MASK
    if blank:
        text, span = _blank_text(sentence, MASK, path, first)
        occurrences = 1
    else:
        text = sentence
        span, occurrences = _pronoun_span(sentence, pronoun, path, first)
    example = _example(text, span, candidates, label, f"line{first}", blank, f"{path}, line {first}")
    return example, occurrences


def read_block_file(path: str | os.PathLike) -> list[CorefExample]:
    """The examples of a 4-line block file (DPR, WSC273, WikiCREM); see the module docstring. A pronoun that occurs
    more than once in its sentence is taken at its first occurrence. Examples with a candidate absent from the
    sentence are skipped with one warning."""
    path = _checked(path)
    examples, skipped, total, repeated = [], [], 0, 0
    for first, lines in _blocks(path):
        total += 1
        example, occurrences = _block_example(lines, path, first)
        repeated += occurrences > 1
        if example is None:
            skipped.append(first)
        else:
            examples.append(example)
    if not total:
        raise UsageError(BLOCK_EMPTY.format(path=path))
    _warn_skipped(path, skipped, total)
    logger.info("%s: %d of %d blocks loaded; %d pronouns occur more than once (the first was taken)",
                path.name, len(examples), total, repeated)
    return examples


# ------------------------------------------------------------------------------------------------- WinoGrande


def _wg_row(line: str, path: Path, number: int) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise UsageError(WG_BAD_JSON.format(path=path, line=number, error=err.msg)) from None
    if not isinstance(row, dict):
        raise UsageError(WG_NOT_OBJECT.format(path=path, line=number, kind=f"a JSON {_json_kind(row)}"))
    for field in WG_FIELDS:
        if field not in row:
            raise UsageError(WG_MISSING_FIELD.format(path=path, line=number, field=field))
    return row


def _wg_answer(value, path: Path, line: int) -> int:
    # "1"/"2" upstream, 1/2 from tools that parse it; True is an int to Python but no answer.
    if isinstance(value, bool) or value not in (1, 2, "1", "2"):
        raise UsageError(WG_BAD_ANSWER.format(path=path, line=line, value=json.dumps(value)[:80]))
    return int(value) - 1


def _wg_option(row: dict, field: str, path: Path, line: int) -> str:
    value = row[field]
    if not isinstance(value, str) or not value.strip():
        raise UsageError(WG_BAD_OPTION.format(path=path, line=line, field=field, value=json.dumps(value)[:80]))
    return value.strip()


def _wg_example(row: dict, path: Path, line: int) -> CorefExample | None:
    sentence = row["sentence"]
    if not isinstance(sentence, str):
        raise UsageError(WG_BAD_SENTENCE.format(path=path, line=line, value=json.dumps(sentence)[:80]))
    text, span = _blank_text(sentence, BLANK, path, line)
    candidates = (_wg_option(row, "option1", path, line), _wg_option(row, "option2", path, line))
    label = _wg_answer(row["answer"], path, line)
    id = str(row["qID"]) if row.get("qID") is not None else f"line{line}"
    return _example(text, span, candidates, label, id, True, f"{path}, line {line}")


def read_winogrande_jsonl(path: str | os.PathLike) -> list[CorefExample]:
    """The examples of a WinoGrande-layout JSON Lines file (WinoGrande, wsc-273.jsonl); see the module docstring.
    Blank lines are ignored; examples with an option absent from the sentence are skipped with one warning."""
    path = _checked(path)
    examples, skipped, total = [], [], 0
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            total += 1
            example = _wg_example(_wg_row(line, path, number), path, number)
            if example is None:
                skipped.append(number)
            else:
                examples.append(example)
    if not total:
        raise UsageError(WG_EMPTY.format(path=path))
    _warn_skipped(path, skipped, total)
    logger.info("%s: %d of %d rows loaded", path.name, len(examples), total)
    return examples


def is_winogrande_jsonl(path: str | os.PathLike) -> bool:
    """Whether a ``.jsonl`` file is in the WinoGrande layout: its first non-blank line is an object with ``sentence``
    and ``option1``. Anything else (including bad JSON) is left to the candidate reader, which names the problem."""
    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(row, dict) and "sentence" in row and "option1" in row
    return False
