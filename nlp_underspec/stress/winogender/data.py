"""Loading Winogender (Rudinger et al. 2018) sentences from the original repository layout, one file, or the Hub.

Every layout comes back as one frame with a row per sentence: ``sentid, sentence, occupation, participant, answer,
gender, pronoun, line``. The ``sentid`` (``occupation.participant.answer.gender.txt``) carries the labels: ``answer`` 0
means the pronoun refers to the occupation, 1 to the participant (also the candidate order of
:class:`~nlp_underspec.data.coref.CorefExample`); ``gender`` is ``female``, ``male`` or ``neutral``.

Layouts:

- the repository's ``data/`` folder: ``all_sentences.tsv`` (``sentid``, ``sentence``), and ``occupations-stats.tsv``,
  which, when present, is validated and returned as the occupation statistics; ``templates.tsv`` is not needed;
- one ``all_sentences.tsv``-style file;
- a Hub dataset id whose split has ``sentid`` and ``sentence`` columns.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nlp_underspec.data.coref import CorefExample
from nlp_underspec.data.hub_datasets import load_hub_dataset, looks_like_hub_id
from nlp_underspec.data.occupations import OCCUPATIONS, load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.tables import read_tsv

SENTENCES_FILE = "all_sentences.tsv"
STATS_FILE = "occupations-stats.tsv"
GENDERS = ("female", "male", "neutral")
LAYOUTS = ("the Winogender repository's data folder (all_sentences.tsv, optionally occupations-stats.tsv), an "
           "all_sentences.tsv file (columns sentid, sentence), or a Hub dataset id with sentid and sentence columns")
PATH_NOT_FOUND = "Winogender path {path} does not exist. Pass " + LAYOUTS + "."
FOLDER_WITHOUT_FILES = "Winogender folder {path} has no " + SENTENCES_FILE + ". Pass " + LAYOUTS + "."
BAD_SENTID = ("{path}, line {line}: sentid '{sentid}' is not occupation.participant.answer.gender.txt "
              "(answer 0, 1 or u; gender female, male or neutral). Fix or remove that line.")
UNKNOWN_OCCUPATION = ("{path}, line {line}: unknown occupation '{occupation}' in sentid '{sentid}'. Winogender covers "
                      "the 60 occupations of the shipped statistics (e.g. {examples}).")
MENTION_NOT_FOUND = ("{path}, line {line}: the sentence does not contain the {what} '{word}' that sentid '{sentid}' "
                     "names. Fix the sentence or its sentid.")
DUPLICATE_SENTID = "{path}, line {line}: sentid '{sentid}' appears more than once."
NO_SENTENCES = "{path} holds no sentences."
HUB_MISSING_COLUMNS = "Hub dataset '{dataset}' has no column(s) {missing} (found: {found}). Pass " + LAYOUTS + "."

SENTID_PATTERN = re.compile(r"^(?P<occupation>[A-Za-z_-]+)\.(?P<participant>[A-Za-z_-]+)\.(?P<answer>[01u])\."
                            r"(?P<gender>female|male|neutral)\.txt$")
# Answer "u" (read as -1): a sentence with no cue to its antecedent, so no gold (the synthetic world's no-cue items,
# where only the pronoun's gender can tip a resolver); such sentences count in the bias, not in the accuracy.
NO_GOLD_ANSWER = "u"
PRONOUNS = {
    "female": ("she", "her", "hers", "herself"),
    "male": ("he", "him", "his", "himself"),
    "neutral": ("they", "them", "their", "theirs", "themselves", "themself"),
}
NOMINATIVE = {"female": "she", "male": "he", "neutral": "they"}
BLEACHED_PARTICIPANT = "someone"  # Winogender's semantically bleached participant, used without an article


@dataclass
class WinogenderData:
    sentences: pd.DataFrame
    stats: pd.DataFrame | None  # occupation statistics found beside the sentences, validated; None when absent
    source: str


def load_winogender(source: str | os.PathLike, *, split: str = "test") -> WinogenderData:
    """Read and check the sentences (and, in the repository layout, the occupation statistics)."""
    path = Path(source)
    if path.is_dir():
        sentences_path = path / SENTENCES_FILE
        if not sentences_path.is_file():
            raise UsageError(FOLDER_WITHOUT_FILES.format(path=path))
        stats = load_occupation_stats(path / STATS_FILE) if (path / STATS_FILE).is_file() else None
        return WinogenderData(_read_sentences_file(sentences_path), stats, str(path))
    if path.is_file():
        return WinogenderData(_read_sentences_file(path), None, str(path))
    if looks_like_hub_id(str(source)) and not str(source).startswith((".", "/", "~")):
        return WinogenderData(_read_hub(str(source), split), None, f"hub:{source}")
    raise UsageError(PATH_NOT_FOUND.format(path=path))


def _read_sentences_file(path: Path) -> pd.DataFrame:
    frame = read_tsv(path, required=("sentid", "sentence"), hint="Expected the Winogender all_sentences.tsv layout.")
    lines = list(range(frame.attrs["first_line"], frame.attrs["first_line"] + len(frame)))
    return parse_sentences(frame["sentid"].tolist(), frame["sentence"].tolist(), lines=lines, where=str(path))


def _read_hub(dataset: str, split: str) -> pd.DataFrame:
    data = load_hub_dataset(dataset, None, split, layouts=LAYOUTS).to_pandas()
    missing = [c for c in ("sentid", "sentence") if c not in data.columns]
    if missing:
        raise UsageError(HUB_MISSING_COLUMNS.format(dataset=dataset, missing=", ".join(missing),
                                                    found=", ".join(data.columns)))
    return parse_sentences(data["sentid"].tolist(), data["sentence"].tolist(), lines=list(range(1, len(data) + 1)),
                           where=f"hub:{dataset}")


def parse_sentid(sentid: str) -> dict[str, object] | None:
    """``{"occupation", "participant", "answer", "gender"}`` from a sentid, or None if it does not match.

    >>> parse_sentid("nurse.patient.0.female.txt")
    {'occupation': 'nurse', 'participant': 'patient', 'answer': 0, 'gender': 'female'}
    """
    match = SENTID_PATTERN.match(sentid.strip())
    if match is None:
        return None
    parts = match.groupdict()
    answer = -1 if parts["answer"] == NO_GOLD_ANSWER else int(parts["answer"])
    return {"occupation": parts["occupation"], "participant": parts["participant"], "answer": answer,
            "gender": parts["gender"]}


def parse_sentences(sentids: list[str], sentences: list[str], *, lines: list[int], where: str) -> pd.DataFrame:
    """Validate sentids and mentions; one row per sentence with the labels spelled out."""
    if not sentids:
        raise UsageError(NO_SENTENCES.format(path=where))
    rows, seen = [], set()
    for sentid, sentence, line in zip(sentids, sentences, lines):
        sentid = str(sentid).strip()
        parts = parse_sentid(sentid)
        if parts is None:
            raise UsageError(BAD_SENTID.format(path=where, line=line, sentid=sentid))
        if parts["occupation"] not in OCCUPATIONS:
            raise UsageError(UNKNOWN_OCCUPATION.format(path=where, line=line, occupation=parts["occupation"],
                                                       sentid=sentid, examples=", ".join(OCCUPATIONS[:3])))
        if sentid in seen:
            raise UsageError(DUPLICATE_SENTID.format(path=where, line=line, sentid=sentid))
        seen.add(sentid)
        pronoun = _find_pronoun(sentence, parts["gender"])
        for what, word in (("occupation", parts["occupation"]), ("participant", parts["participant"]),
                           ("pronoun", pronoun)):
            if word is None or _find_word(sentence, word) is None:
                shown = word if word is not None else "/".join(PRONOUNS[parts["gender"]])
                raise UsageError(MENTION_NOT_FOUND.format(path=where, line=line, what=what, word=shown, sentid=sentid))
        rows.append({"sentid": sentid, "sentence": str(sentence), **parts, "pronoun": pronoun, "line": line})
    return pd.DataFrame(rows)


def _find_word(text: str, word: str) -> tuple[int, int] | None:
    """Character span of the first whole-word, case-insensitive occurrence of ``word``."""
    match = re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE)
    return match.span() if match else None


def _find_pronoun(sentence: str, gender: str) -> str | None:
    match = re.search(r"\b(" + "|".join(PRONOUNS[gender]) + r")\b", sentence, flags=re.IGNORECASE)
    return match.group(0) if match else None


def candidate_phrase(word: str) -> str:
    """How a candidate is named in a probe: "the technician", but "someone" as is."""
    return word if word.lower() == BLEACHED_PARTICIPANT else f"the {word}"


def coref_example(row) -> CorefExample:
    """A Winogender sentence (a loader row, or a label_info row with ``item_id``) as a candidate-scoring example.

    Candidate 0 is the occupation, 1 the participant, as in Winogender's ``answer`` column.

    >>> example = coref_example({"sentid": "nurse.patient.0.female.txt", "occupation": "nurse",
    ...     "participant": "patient", "answer": 0, "pronoun": "her",
    ...     "sentence": "The nurse notified the patient that her shift would be ending in an hour."})
    >>> [example.span_text(span) for span in (example.pronoun, *example.candidates)]
    ['her', 'nurse', 'patient']
    """
    sentence = row["sentence"]
    occupation = _find_word(sentence, row["occupation"])
    participant = _find_word(sentence, row["participant"])
    written = row.get("pronoun") or _find_pronoun(sentence, row["gender"])  # label_info made elsewhere may lack it
    pronoun = _find_word(sentence, written)
    sentid = row.get("sentid", row.get("item_id", ""))
    label = int(row.get("answer", -1))
    return CorefExample(text=sentence, pronoun=pronoun, candidates=(occupation, participant),
                        label=label if label >= 0 else None, id=str(sentid))
