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
token. Blank examples carry ``meta["blank"] = True``, pronoun examples ``False``. A DPR pronoun is its
first whole-word, case-insensitive occurrence in the sentence; a pronoun that occurs more than once (about 3% of DPR,
e.g. "it ... it") is taken at its first occurrence, which is not always the one the problem is about.

**Candidates** are located as whole-word (``\\b`` where a candidate starts or ends with a word character),
case-insensitive matches that do not overlap the pronoun: the occurrence nearest before the pronoun, else the first
after it. Labels are 0 when the answer is candidate 1, 1 when it is candidate 2. (``wsc273.txt`` and
``WikiCREM_dev.txt`` always list the answer first, so every label there is 0: a resolver trained on them alone can
score perfectly by always choosing candidate 0.)

**A candidate not written verbatim** in its sentence (a third of WSC273: "the suitcase" for "the brown suitcase",
"The son" for "his son", "Tina's drawing" for "Tina's"; about 0.6% of WinoGrande: "cup" for "cups", "Erin" for
"Erins") is located at a part of its mention instead, by the first of these that matches (the same nearest rule,
never overlapping the pronoun):

1. ``exact``: the whole candidate;
2. ``head``: the candidate without a leading determiner or possessive word (the, a, an, his, her, their, its, my,
   our, your, this, that), then its last word (the head noun) less a trailing "'s", when that is at least 3
   characters and not a determiner;
3. ``inflected``: that head noun followed by "s", "es" or "'s" in one of the sentence's words ("cups", "Erins",
   "boxes"), the whole word being the span;
4. ``name``: the candidate's first capitalised word that is not a determiner, case-sensitively ("Tina").

A fallback (2-4) never lands inside the other candidate written verbatim: "Tina's drawing" beside "Sam's drawing"
is then found by its name, not at Sam's "drawing". The resolvers score a candidate by its text, so the span
only has to point at the mention: every example carries ``meta["candidate_text"]``, the two candidates as written in
the file (stripped), and ``meta["located"]``, how each was found (``"exact"``, ``"head"``, ``"inflected"`` or
``"name"``). Each file logs one info line counting the fallback locations by kind.

**Skipped.** An example with a candidate that none of the four finds (WSC273's "The juggler" for "a man juggling",
WinoGrande's "cloth" for "clothe"), or whose two candidates end up at the same words (WSC273's "The old house" and
"The new house" both at "house"), has no spans to give it and is skipped; each file logs one warning with the count
and first line for each reason. Anything else malformed (a block of other than 4 lines, a bad candidate line, an answer
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

from nlp_underspec.data.coref import CorefExample, Span, json_kind
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
SKIPPED = "{file}: {n} of {m} examples skipped: {reasons}"
ABSENT, SAME_SPAN = "absent", "same span"
SKIP_REASON = {
    ABSENT: "{n} with a candidate that does not occur in its sentence, even in part (first at line {line})",
    SAME_SPAN: "{n} whose two candidates are found at the same words (first at line {line})",
}
LOCATED = ("{file}: candidates located other than as written: {head} by the head noun, {inflected} by the head noun "
           "with a plural or possessive ending, {name} by a name")

# How a candidate was found in its sentence, in the order tried (see _fallbacks), as CorefExample.meta["located"].
EXACT, HEAD, INFLECTED, NAME = "exact", "head", "inflected", "name"
FALLBACKS = (HEAD, INFLECTED, NAME)
DETERMINERS = frozenset("the a an his her their its my our your this that".split())
POSSESSIVE = re.compile(r"['’]s$")
MIN_HEAD = 3

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


def _phrase_pattern(phrase: str, flags: int = re.IGNORECASE) -> re.Pattern:
    """A (by default case-insensitive) match of ``phrase`` as whole words: \\b only where it starts or ends with a
    word character, because \\b before "'s" or after "Jr." would never match."""
    start = r"\b" if re.match(r"\w", phrase[:1]) else ""
    end = r"\b" if re.match(r"\w", phrase[-1:]) else ""
    return re.compile(start + re.escape(phrase) + end, flags)


def _overlap(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _nearest(text: str, pattern: re.Pattern, pronoun: Span, avoid: tuple[Span, ...] = ()) -> Span | None:
    """The match of ``pattern`` nearest before the pronoun, else the first after it, never overlapping it (nor any
    span in ``avoid``). Winograd antecedents usually precede the pronoun, and the nearest one is the mention the
    clause structure ties to it."""
    before, after = None, None
    for match in pattern.finditer(text):
        if any(_overlap(match.span(), span) for span in avoid):
            continue
        if match.end() <= pronoun[0]:
            before = match.span()
        elif match.start() >= pronoun[1] and after is None:
            after = match.span()
    return before or after


def _head(candidate: str) -> tuple[str | None, str | None]:
    """``(the candidate without its leading determiner when more than one word is left, its head noun)``; either is
    ``None`` when there is none. The head is the last word less a trailing 's, and only counts with at least 3
    characters and not a determiner: a word like "of", "it" or "his" matches words that are not the mention."""
    words = candidate.split()
    stripped = bool(words) and words[0].casefold() in DETERMINERS
    if stripped:
        words = words[1:]
    if not words:
        return None, None
    rest = " ".join(words) if stripped and len(words) > 1 else None
    head = POSSESSIVE.sub("", words[-1])
    usable = len(head) >= MIN_HEAD and head.casefold() not in DETERMINERS
    return rest, head if usable else None


def _name(candidate: str) -> str | None:
    """The candidate's first word capitalised as written (less a trailing 's) that is no determiner ("The TV": "TV")."""
    for word in candidate.split():
        if word[:1].isupper() and word.casefold() not in DETERMINERS:
            return POSSESSIVE.sub("", word) or None
    return None


def _fallbacks(candidate: str) -> Iterator[tuple[str, re.Pattern]]:
    """``(kind, pattern)`` in the order tried: the candidate as written; without its leading determiner, then its
    head noun; the head noun inflected ("cup" at "cups"); its first capitalised word. A resolver scores the
    candidate by its text, so the span only has to point at the candidate's mention."""
    yield EXACT, _phrase_pattern(candidate)
    rest, head = _head(candidate)
    if rest:
        yield HEAD, _phrase_pattern(rest)
    if head:
        yield HEAD, _phrase_pattern(head)
        yield INFLECTED, re.compile(r"\b" + re.escape(head) + r"(?:s|es|['’]s)\b", re.IGNORECASE)
    name = _name(candidate)
    if name:
        # Case-sensitive: a name is capitalised in the sentence too, and "Will" must not find "will".
        yield NAME, _phrase_pattern(name, flags=0)


def locate_candidate(text: str, candidate: str, pronoun: Span, other: str | None = None) -> tuple[Span, str] | None:
    """``(span, kind)`` of the candidate's mention in ``text`` by the first of :func:`_fallbacks` that matches apart
    from the pronoun (kind is one of ``exact``, ``head``, ``inflected``, ``name``), or ``None`` when none does. A
    fallback never lands inside the ``other`` candidate written verbatim: WSC273's "Tina's drawing" beside "Sam's
    drawing" would otherwise be the "drawing" of Sam's (its name, "Tina", is right)."""
    avoid = ()
    for kind, pattern in _fallbacks(candidate):
        span = _nearest(text, pattern, pronoun, avoid)
        if span is not None:
            return span, kind
        if kind == EXACT and other:  # only now: two verbatim candidates may overlap as before ("Joe", "Joe's uncle")
            avoid = tuple(match.span() for match in _phrase_pattern(other).finditer(text))
    return None


def _example(text: str, pronoun: Span, candidates: tuple[str, str], answer: int, id: str, blank: bool,
             where: str) -> CorefExample | str:
    """One validated example, or the reason it is skipped (``ABSENT`` or ``SAME_SPAN``; the caller counts it)."""
    located = [locate_candidate(text, mine, pronoun, other) for mine, other in zip(candidates, candidates[::-1])]
    if None in located:
        return ABSENT
    spans = tuple(span for span, _ in located)
    if spans[0] == spans[1]:  # "The old house", "The new house" both at "house": no choice left to make
        return SAME_SPAN
    meta = {"blank": blank, "candidate_text": tuple(candidates), "located": tuple(kind for _, kind in located)}
    return CorefExample(text=text, pronoun=pronoun, candidates=spans, label=answer, id=id,
                        meta=meta).validate(where)


class _Tally:
    """What one file gave: skipped lines by reason, and candidates located by each fallback."""

    def __init__(self) -> None:
        self.total = 0
        self.skipped: dict[str, list[int]] = {ABSENT: [], SAME_SPAN: []}
        self.located = {kind: 0 for kind in FALLBACKS}

    def add(self, result: CorefExample | str, line: int, examples: list[CorefExample]) -> None:
        self.total += 1
        if isinstance(result, str):
            self.skipped[result].append(line)
            return
        examples.append(result)
        for kind in result.meta["located"]:
            if kind != EXACT:
                self.located[kind] += 1

    def log(self, path: Path) -> None:
        """One warning for the skips (when any), one info line for the fallback locations."""
        reasons = [SKIP_REASON[reason].format(n=len(lines), line=lines[0])
                   for reason, lines in self.skipped.items() if lines]
        if reasons:
            count = sum(len(lines) for lines in self.skipped.values())
            logger.warning(SKIPPED.format(file=path, n=count, m=self.total, reasons="; ".join(reasons)))
        logger.info(LOCATED.format(file=path.name, **self.located))


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


def _block_example(lines: list[str], path: Path, first: int) -> tuple[CorefExample | str, int]:
    """One block as ``(example or the reason it is skipped, occurrences of its pronoun)``."""
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
    sentence (even in part) or with both candidates at the same words are skipped with one warning."""
    path = _checked(path)
    examples, tally, repeated = [], _Tally(), 0
    for first, lines in _blocks(path):
        example, occurrences = _block_example(lines, path, first)
        repeated += occurrences > 1
        tally.add(example, first, examples)
    if not tally.total:
        raise UsageError(BLOCK_EMPTY.format(path=path))
    tally.log(path)
    logger.info("%s: %d of %d blocks loaded; %d pronouns occur more than once (the first was taken)",
                path.name, len(examples), tally.total, repeated)
    return examples


# ------------------------------------------------------------------------------------------------- WinoGrande


def _wg_row(line: str, path: Path, number: int) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise UsageError(WG_BAD_JSON.format(path=path, line=number, error=err.msg)) from None
    if not isinstance(row, dict):
        raise UsageError(WG_NOT_OBJECT.format(path=path, line=number, kind=f"a JSON {json_kind(row)}"))
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


def _wg_example(row: dict, path: Path, line: int) -> CorefExample | str:
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
    Blank lines are ignored; examples with an option absent from the sentence (even in part) or with both options at
    the same words are skipped with one warning."""
    path = _checked(path)
    examples, tally = [], _Tally()
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                tally.add(_wg_example(_wg_row(line, path, number), path, number), number, examples)
    if not tally.total:
        raise UsageError(WG_EMPTY.format(path=path))
    tally.log(path)
    logger.info("%s: %d of %d rows loaded", path.name, len(examples), tally.total)
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
