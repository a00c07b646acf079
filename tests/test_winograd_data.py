"""Winograd-style loaders (4-line blocks: DPR, WSC273, WikiCREM; WinoGrande JSON Lines): spans, skips, errors."""

from __future__ import annotations

import json
import logging

import pytest

from nlp_underspec.config import WorldConfig
from nlp_underspec.data import sources, winograd
from nlp_underspec.data.coref import write_candidate_jsonl
from nlp_underspec.errors import UsageError

WORLD = WorldConfig(seed=1, n_corpus_sentences=500, n_sts_pairs=100, n_coref_examples=100, n_sts_templates=10)
BEE = "The bee landed on the flower because it had pollen.\nit\nThe bee,the flower\nthe flower\n"
COUNCIL = ("The city councilmen refused the demonstrators a permit because [MASK] feared violence. \n[MASK]\n"
           "The city councilmen ,The demonstrators \nThe city councilmen \n")
SHAPE = "the sentence, the pronoun or [MASK], 'candidate 1,candidate 2', the correct candidate"


def _write(tmp_path, text: str, name: str = "blocks.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(tmp_path, *rows, name: str = "wino.jsonl"):
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    return _write(tmp_path, "\n".join(lines) + "\n", name)


def _row(**changes) -> dict:
    row = {"qID": "q-1", "sentence": "Sarah was a better surgeon than Maria so _ got the easier cases.",
           "option1": "Sarah", "option2": "Maria", "answer": "2"}
    row.update(changes)
    return {key: value for key, value in row.items() if value is not ...}


def _error(call, path) -> str:
    with pytest.raises(UsageError) as err:
        call(path)
    return str(err.value)


def _spans(example) -> tuple[str, list[str]]:
    return example.span_text(example.pronoun), [example.span_text(c) for c in example.candidates]


# ------------------------------------------------------------------------------------------------- 4-line blocks


def test_pronoun_block_spans_and_label(tmp_path):
    wanted = "The bee landed on the flower because it wanted pollen.\nit\nThe bee,the flower\nTHE BEE\n"
    path = _write(tmp_path, BEE + "\n" + wanted)
    first, second = winograd.read_block_file(path)
    assert first.text == "The bee landed on the flower because it had pollen."
    assert first.pronoun == (37, 39) and first.candidates == ((0, 7), (18, 28))
    assert (first.label, first.id, first.meta) == (1, "line1", {"blank": False})
    assert second.label == 0 and second.id == "line6"  # the answer "THE BEE" differs from candidate 1 only in case
    assert _spans(second) == ("it", ["The bee", "the flower"])


def test_blank_block_becomes_an_underscore(tmp_path):
    (example,) = winograd.read_block_file(_write(tmp_path, COUNCIL))
    assert example.text == "The city councilmen refused the demonstrators a permit because _ feared violence."
    assert _spans(example) == ("_", ["The city councilmen", "the demonstrators"])  # stray spaces, other case
    assert example.pronoun == (63, 64) and (example.label, example.meta) == (0, {"blank": True})


def test_candidates_nearest_before_the_pronoun_else_first_after(tmp_path):
    text = "Ann told Bea that Ann saw it because [MASK] looked, and Cal and Cal agreed.\n[MASK]\nAnn,Cal\nCal\n"
    (example,) = winograd.read_block_file(_write(tmp_path, text))
    assert example.candidates == ((18, 21), (51, 54)) and example.label == 1
    assert _spans(example) == ("_", ["Ann", "Cal"])


def test_whole_words_only_and_first_of_a_repeated_pronoun(tmp_path):
    """"it" inside "knit" is no pronoun; of two "it"s the first is taken (as the module docstring says)."""
    text = "The knit hat fell off the hook because it was loose and it slipped.\nit\nthe knit hat,the hook\nthe hook\n"
    (example,) = winograd.read_block_file(_write(tmp_path, text))
    assert example.pronoun == (39, 41) and _spans(example) == ("it", ["The knit hat", "the hook"])


def test_blank_lines_and_a_last_block_without_its_newline(tmp_path):
    path = _write(tmp_path, "\n\n" + BEE + "\n \n\n" + BEE.rstrip("\n"))
    assert [e.id for e in winograd.read_block_file(path)] == ["line3", "line10"]


def test_a_block_with_an_absent_candidate_is_skipped_with_one_warning(tmp_path, caplog):
    missing = BEE.replace("The bee,the flower", "The wasp,the flower")
    path = _write(tmp_path, "\n".join([BEE, missing, missing, BEE]))
    with caplog.at_level(logging.WARNING, logger="nlp_underspec.data.winograd"):
        examples = winograd.read_block_file(path)
    assert [e.id for e in examples] == ["line1", "line16"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{path}: 2 of 4 examples skipped: a candidate does not occur in its sentence (first at line 6)"]


@pytest.mark.bad_input
@pytest.mark.parametrize("text, message", [
    (BEE + "\n" + BEE + BEE, "{path}, line 6: this block has 8 lines, but a block is 4 lines (" + SHAPE + ") followed "
     "by a blank line. Add or remove lines, or the blank line between two blocks."),
    ("The bee landed.\nit\nThe bee,the flower\n", "{path}, line 1: this block has 3 lines, but a block is 4 lines ("
     + SHAPE + ") followed by a blank line. Add or remove lines, or the blank line between two blocks."),
])
def test_a_block_of_other_than_4_lines_is_refused(tmp_path, text, message):
    path = _write(tmp_path, text)
    assert _error(winograd.read_block_file, path) == message.format(path=path)


@pytest.mark.bad_input
@pytest.mark.parametrize("candidates", ["The bee", "The bee,the flower,the hive", "The bee,", ", the flower"])
def test_a_candidate_line_needs_two_candidates_and_one_comma(tmp_path, candidates):
    path = _write(tmp_path, BEE + "\n" + BEE.replace("The bee,the flower", candidates))
    assert _error(winograd.read_block_file, path) == (
        f"{path}, line 8: expected two non-empty candidates separated by one comma, got {candidates!r}. A candidate "
        "that itself contains a comma cannot be told apart from two candidates, so rephrase it without the comma.")


@pytest.mark.bad_input
def test_an_answer_that_is_neither_candidate_is_refused(tmp_path):
    path = _write(tmp_path, BEE.replace("\nthe flower\n", "\nthe flowers \n"))
    assert _error(winograd.read_block_file, path) == (
        f"{path}, line 4: the answer 'the flowers' is neither candidate ('The bee' or 'the flower'). Make it one of "
        "the two candidates (case and surrounding spaces do not matter).")


@pytest.mark.bad_input
def test_a_sentence_without_its_pronoun_is_refused(tmp_path):
    path = _write(tmp_path, BEE.replace("\nit\n", "\nthey\n"))
    assert _error(winograd.read_block_file, path) == (
        f"{path}, line 1: the pronoun 'they' on the next line does not occur as a word in this sentence. Fix the "
        "sentence or the pronoun.")


@pytest.mark.bad_input
@pytest.mark.parametrize("sentence, count", [
    ("The city councilmen refused the demonstrators a permit because they feared violence.", 0),
    ("The city councilmen refused [MASK] a permit because [MASK] feared violence.", 2)])
def test_a_blank_sentence_needs_exactly_one_mask(tmp_path, sentence, count):
    path = _write(tmp_path, BEE + "\n" + COUNCIL.replace(COUNCIL.split("\n")[0], sentence))
    assert _error(winograd.read_block_file, path) == (
        f"{path}, line 6: the sentence holds [MASK] {count} times, but a blank example holds it exactly once (where a "
        "candidate fills in). Fix the sentence.")


@pytest.mark.bad_input
def test_an_empty_or_missing_block_file_is_refused(tmp_path):
    path = _write(tmp_path, "\n \n")
    assert _error(winograd.read_block_file, path) == (
        f"{path} holds no blocks. Expected blocks of 4 lines (" + SHAPE + ") separated by blank lines.")
    assert _error(winograd.read_block_file, tmp_path / "gone.txt") == (
        f"Winograd file {tmp_path / 'gone.txt'} does not exist. Pass a 4-line block .txt file or a WinoGrande .jsonl "
        "file.")


# ------------------------------------------------------------------------------------------------- WinoGrande


def test_winogrande_rows(tmp_path):
    path = _jsonl(tmp_path, _row(), "", _row(qID=..., answer=1, option1=" sarah "))
    first, second = winograd.read_winogrande_jsonl(path)
    assert first.text == "Sarah was a better surgeon than Maria so _ got the easier cases."
    assert first.pronoun == (41, 42) and first.candidates == ((0, 5), (32, 37))
    assert (first.label, first.id, first.meta) == (1, "q-1", {"blank": True})
    assert (second.label, second.id) == (0, "line3")  # no qID: the line; the stray-spaced option still found
    assert _spans(second) == ("_", ["Sarah", "Maria"])


def test_a_winogrande_option_absent_from_its_sentence_is_skipped(tmp_path, caplog):
    path = _jsonl(tmp_path, _row(), _row(option2="Mary"), _row(option1="surgeons"))
    with caplog.at_level(logging.WARNING, logger="nlp_underspec.data.winograd"):
        assert len(winograd.read_winogrande_jsonl(path)) == 1
    assert f"{path}: 2 of 3 examples skipped: a candidate does not occur in its sentence (first at line 2)" in \
        caplog.messages


@pytest.mark.bad_input
@pytest.mark.parametrize("row, problem", [
    ('{"sentence": "a _",', "not valid JSON (Expecting property name enclosed in double quotes)."),
    ("[1, 2]", "expected a JSON object with sentence, option1, option2 and answer, got a JSON array."),
    (_row(option2=...), "missing field 'option2'. Each line needs sentence, option1, option2 and answer."),
    (_row(answer="3"), 'answer must be 1 or 2 (a string or an integer), got "3".'),
    (_row(answer=0), "answer must be 1 or 2 (a string or an integer), got 0."),
    (_row(answer=True), "answer must be 1 or 2 (a string or an integer), got true."),
    (_row(answer=None), "answer must be 1 or 2 (a string or an integer), got null."),
    (_row(option1=5), "'option1' must be a non-empty string, got 5."),
    (_row(option2="  "), "'option2' must be a non-empty string, got \"  \"."),
    (_row(sentence=["a _"]), "'sentence' must be a string, got [\"a _\"]."),
    (_row(sentence="Sarah was a better surgeon than Maria."), "the sentence holds _ 0 times, but a blank example "
     "holds it exactly once (where a candidate fills in). Fix the sentence."),
    (_row(sentence="Sarah _ was _ better."), "the sentence holds _ 2 times, but a blank example holds it exactly "
     "once (where a candidate fills in). Fix the sentence."),
])
def test_winogrande_errors(tmp_path, row, problem):
    path = _jsonl(tmp_path, _row(), row)
    assert _error(winograd.read_winogrande_jsonl, path) == f"{path}, line 2: {problem}"


@pytest.mark.bad_input
def test_an_empty_winogrande_file_is_refused(tmp_path):
    path = _write(tmp_path, "\n\n", "wino.jsonl")
    assert _error(winograd.read_winogrande_jsonl, path) == (
        f"{path} holds no WinoGrande rows. Expected one JSON object a line with sentence, option1, option2, answer.")


# ------------------------------------------------------------------------------------------------- dispatch


def test_load_coref_examples_reads_both_layouts_as_single_files(tmp_path):
    blocks = _write(tmp_path, BEE + "\n" + COUNCIL)
    rows = _jsonl(tmp_path, "", _row())
    for split in ("train", "test"):  # a single file is its own data whatever split is asked
        assert sources.load_coref_examples(blocks, split, WORLD) == winograd.read_block_file(blocks)
        assert sources.load_coref_examples(rows, split, WORLD) == winograd.read_winogrande_jsonl(rows)
    candidates = tmp_path / "cands.jsonl"  # the candidate layout is still read as before
    write_candidate_jsonl(candidates, winograd.read_block_file(blocks))
    assert sources.load_coref_examples(candidates, "dev", WORLD) == winograd.read_block_file(blocks)


def test_a_folder_of_winogrande_splits(tmp_path):
    _jsonl(tmp_path, _row(), name="dev.jsonl")
    assert [e.id for e in sources.load_coref_examples(tmp_path, "dev", WORLD)] == ["q-1"]


# ------------------------------------------------------------------------------------------------- the real files


@pytest.mark.parametrize("file, total, skipped, labels", [
    ("dpr/train.c.txt", 1316, 0, {0, 1}), ("dpr/test.c.txt", 564, 0, {0, 1}), ("wsc273/wsc273.txt", 273, 92, {0}),
    ("wikicrem/WikiCREM_dev.txt", 10000, 0, {0}), ("winogrande/dev.jsonl", 1267, 17, {0, 1}),
    ("winogrande/train_xl.jsonl", 40398, 240, {0, 1}), ("winogrande/train_l.jsonl", 10234, 61, {0, 1}),
    ("wsc273/wsc-273.jsonl", 273, 30, {0, 1})])
def test_real_winograd_files(shared_data, caplog, file, total, skipped, labels):
    """Counts measured on the files in ../shared/data; skips are candidates written other than in the sentence
    (WSC273's "the suitcase" for "the brown suitcase", WinoGrande's "cup" for "cups"). wsc273.txt and WikiCREM list
    the answer first in every block, so all their labels are 0."""
    path = shared_data / file
    with caplog.at_level(logging.WARNING, logger="nlp_underspec.data.winograd"):
        examples = sources.load_coref_examples(path, "train", WORLD)
    assert len(examples) == total - skipped
    warnings = [m for m in caplog.messages if "examples skipped" in m]
    assert len(warnings) == (1 if skipped else 0)
    assert not skipped or warnings[0].startswith(f"{path}: {skipped} of {total} examples skipped")
    blank = not file.startswith("dpr/")
    assert all(e.meta == {"blank": blank} for e in examples)
    assert all(e.span_text(e.pronoun) == "_" for e in examples) or not blank
    assert {e.label for e in examples} == labels
