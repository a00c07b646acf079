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
    assert (first.label, first.id) == (1, "line1")
    assert first.meta == {"blank": False, "candidate_text": ("The bee", "the flower"), "located": ("exact", "exact")}
    assert second.label == 0 and second.id == "line6"  # the answer "THE BEE" differs from candidate 1 only in case
    assert _spans(second) == ("it", ["The bee", "the flower"])


def test_blank_block_becomes_an_underscore(tmp_path):
    (example,) = winograd.read_block_file(_write(tmp_path, COUNCIL))
    assert example.text == "The city councilmen refused the demonstrators a permit because _ feared violence."
    assert _spans(example) == ("_", ["The city councilmen", "the demonstrators"])  # stray spaces, other case
    assert example.pronoun == (63, 64) and example.label == 0
    assert example.meta == {"blank": True, "candidate_text": ("The city councilmen", "The demonstrators"),
                            "located": ("exact", "exact")}  # as written in the file, stripped


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
        f"{path}: 2 of 4 examples skipped: 2 with a candidate that does not occur in its sentence, even in part "
        "(first at line 6)"]


# ------------------------------------------------------------------------------------------------- fallbacks


def _block(sentence: str, candidates: str, pronoun: str = "[MASK]") -> str:
    return f"{sentence}\n{pronoun}\n{candidates}\n{candidates.split(',')[0]}\n"


def _located(tmp_path, sentence: str, candidates: str, pronoun: str = "[MASK]"):
    """``(span texts of the two candidates, how each was located)`` of a one-block file."""
    (example,) = winograd.read_block_file(_write(tmp_path, _block(sentence, candidates, pronoun)))
    return _spans(example)[1], example.meta["located"]


@pytest.mark.parametrize("sentence, candidates, texts, located", [
    ("The trophy doesn't fit into the brown suitcase because [MASK] is too large.", "The trophy,the suitcase",
     ["The trophy", "suitcase"], ("exact", "head")),
    ("The man couldn't lift his son because [MASK] was so weak.", " The man , The son ", ["The man", "son"],
     ("exact", "head")),
    ("We saw the old oak tree and the shed, and [MASK] was tall.", "The oak tree,the shed", ["oak tree", "the shed"],
     ("head", "exact")),  # the rest after the determiner first, as a phrase
    ("Sam hung his picture above Tina because [MASK] was tall.", "Tina's,Sam", ["Tina", "Sam"], ("head", "exact")),
])
def test_step_2_the_head_noun(tmp_path, sentence, candidates, texts, located):
    """Without its determiner (the rest as a phrase, then the last word less "'s")."""
    assert _located(tmp_path, sentence, candidates) == (texts, located)


def test_step_2_needs_a_head_of_3_letters_that_is_no_determiner(tmp_path, caplog):
    blocks = [_block("The ox pulled the cart until [MASK] stopped; an ox is strong.", "the big ox,the cart"),
              _block("Her dog chased the cat until [MASK] was tired.", "the her,the cat")]
    with caplog.at_level(logging.WARNING, logger="nlp_underspec.data.winograd"):
        assert winograd.read_block_file(_write(tmp_path, "\n".join(blocks))) == []
    assert "2 of 2 examples skipped: 2 with a candidate that does not occur" in caplog.text


@pytest.mark.parametrize("sentence, candidates, texts, located", [
    ("Tea is drunk from cups and coffee from mugs, so [MASK] is smaller.", "cup,mug", ["cups", "mugs"],
     ("inflected", "inflected")),
    ("He put the boxes on the shelf until [MASK] broke.", "the box,the shelf", ["boxes", "the shelf"],
     ("inflected", "exact")),
    ("Laura glued Erins hands, so [MASK] went to the doctor.", "Laura,Erin", ["Laura", "Erins"],
     ("exact", "inflected")),
])
def test_step_3_the_head_noun_inflected(tmp_path, sentence, candidates, texts, located):
    """The sentence's whole word that is the head noun and "s", "es" or "'s"."""
    assert _located(tmp_path, sentence, candidates) == (texts, located)


def test_step_4_a_name_and_no_fallback_inside_the_other_candidates_mention(tmp_path):
    """"Tina's drawing" is at "Tina", not at the "drawing" of "Sam's drawing" (which is candidate 1 as written)."""
    sentence = "Sam's drawing was hung just above Tina's and [MASK] did look much better."
    assert _located(tmp_path, sentence, "Sam's drawing,Tina's drawing") == (
        ["Sam's drawing", "Tina"], ("exact", "name"))
    assert _located(tmp_path, "Fred wanted to watch TV, so [MASK] was on.", "The TV,Fred") == (
        ["TV", "Fred"], ("name", "exact"))


def test_fallbacks_keep_the_nearest_rule_and_never_take_the_pronoun(tmp_path):
    """The pronoun "Tina" is the first one; "Tina's drawing" is at the other "Tina" and at no "drawing" of Sam's."""
    sentence = "Tina and Sam's drawing: Tina liked Sam's drawing, and Tina's was hung."
    (example,) = winograd.read_block_file(_write(tmp_path, _block(sentence, "Sam's drawing,Tina's drawing", "Tina")))
    assert example.pronoun == (0, 4) and example.candidates == ((9, 22), (24, 28))  # the first after the pronoun
    assert example.meta["located"] == ("exact", "name")
    nearest = "The cups were full and the cups were cold because [MASK] leaked, and cups broke."
    (example,) = winograd.read_block_file(_write(tmp_path, _block(nearest, "the cup,the cold")))
    assert example.candidates[0] == (27, 31) and _spans(example)[1] == ["cups", "cold"]  # nearest before the blank


def test_a_name_is_matched_case_sensitively(tmp_path):
    assert _located(tmp_path, "Will Li met Ann because [MASK] was late.", "Will Li,Ann") == (
        ["Will Li", "Ann"], ("exact", "exact"))
    path = _write(tmp_path, _block("Ann said she will call Li because [MASK] was late.", "Will Li,Ann"))
    assert winograd.read_block_file(path) == []  # "Li" is too short to be a head, and "will" is no "Will"


def test_two_candidates_at_the_same_words_are_skipped_with_their_own_reason(tmp_path, caplog):
    same = _block("Joe has sold his house and bought a new one. He will be moving out of [MASK] on Thursday.",
                  "The old house,The new house")
    absent = BEE.replace("The bee,the flower", "The wasp,the flower")
    path = _write(tmp_path, "\n".join([BEE, same, absent, same]))
    with caplog.at_level(logging.INFO, logger="nlp_underspec.data.winograd"):
        assert [e.id for e in winograd.read_block_file(path)] == ["line1"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{path}: 3 of 4 examples skipped: 1 with a candidate that does not occur in its sentence, even in part "
        "(first at line 11); 2 whose two candidates are found at the same words (first at line 6)"]


def test_one_info_line_counts_the_fallbacks_by_kind(tmp_path, caplog):
    blocks = [_block("The old man couldn't lift his boy because [MASK] was so weak.", "The man,The boy"),
              _block("Tea is drunk from cups and coffee from mugs, so [MASK] is smaller.", "cup,mug"),
              _block("Sam's drawing was hung above Tina's and [MASK] looked better.", "Sam's drawing,Tina's drawing")]
    rows = _jsonl(tmp_path, _row(), _row(sentence="Sarah was a better surgeon than Marias so _ got the easier cases."))
    with caplog.at_level(logging.INFO, logger="nlp_underspec.data.winograd"):
        winograd.read_block_file(_write(tmp_path, "\n".join(blocks)))
        winograd.read_winogrande_jsonl(rows)
    assert [m for m in caplog.messages if "other than as written" in m] == [
        "blocks.txt: candidates located other than as written: 2 by the head noun, 2 by the head noun with a plural "
        "or possessive ending, 1 by a name",
        "wino.jsonl: candidates located other than as written: 0 by the head noun, 1 by the head noun with a plural "
        "or possessive ending, 0 by a name"]


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
    assert (first.label, first.id) == (1, "q-1")
    assert first.meta == {"blank": True, "candidate_text": ("Sarah", "Maria"), "located": ("exact", "exact")}
    assert (second.label, second.id) == (0, "line3")  # no qID: the line; the stray-spaced option still found
    assert _spans(second) == ("_", ["Sarah", "Maria"])


def test_a_winogrande_option_absent_from_its_sentence_is_skipped(tmp_path, caplog):
    path = _jsonl(tmp_path, _row(), _row(option2="Mary"), _row(option1="surgeons"))
    with caplog.at_level(logging.WARNING, logger="nlp_underspec.data.winograd"):
        assert len(winograd.read_winogrande_jsonl(path)) == 1
    assert f"{path}: 2 of 3 examples skipped: 2 with a candidate that does not occur in its sentence, even in part " \
        "(first at line 2)" in caplog.messages


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


@pytest.mark.parametrize("file, total, absent, same, fallbacks, labels", [
    ("dpr/train.c.txt", 1316, 0, 0, (0, 0, 0), {0, 1}), ("dpr/test.c.txt", 564, 0, 0, (0, 0, 0), {0, 1}),
    ("wsc273/wsc273.txt", 273, 6, 2, (96, 4, 4), {0}), ("wikicrem/WikiCREM_dev.txt", 10000, 0, 0, (0, 0, 0), {0}),
    ("winogrande/dev.jsonl", 1267, 0, 0, (0, 17, 0), {0, 1}),
    ("winogrande/train_xl.jsonl", 40398, 43, 2, (0, 201, 2), {0, 1}),
    ("winogrande/train_l.jsonl", 10234, 17, 0, (0, 46, 0), {0, 1}),
    ("wsc273/wsc-273.jsonl", 273, 6, 0, (20, 4, 0), {0, 1})])
def test_real_winograd_files(shared_data, caplog, file, total, absent, same, fallbacks, labels):
    """Counts measured on the files in ../shared/data. ``fallbacks`` counts candidates located by head noun, inflected
    head noun and name (WSC273's "the suitcase" at "brown suitcase", WinoGrande's "cup" at "cups"). What is still
    skipped: candidates no fallback finds (WSC273's "The juggler", "Kamchatka" for "Kamtchatka"; WinoGrande's "cloth"
    for "clothe", "email" for "emailing") and pairs at the same words ("The old house" and "The new house" both at
    "house", "glass bottle" and "plastic bottle" both at "bottles"). wsc273.txt and WikiCREM list the answer first in
    every block, so all their labels are 0."""
    path = shared_data / file
    with caplog.at_level(logging.INFO, logger="nlp_underspec.data.winograd"):
        examples = sources.load_coref_examples(path, "train", WORLD)
    assert len(examples) == total - absent - same
    warnings = [m for m in caplog.messages if "examples skipped" in m]
    assert len(warnings) == (1 if absent or same else 0)
    if warnings:
        assert warnings[0].startswith(f"{path}: {absent + same} of {total} examples skipped: ")
        assert (f"{absent} with a candidate that does not occur" in warnings[0]) == bool(absent)
        assert (f"{same} whose two candidates are found at the same words" in warnings[0]) == bool(same)
    head, inflected, name = fallbacks
    assert f"{path.name}: candidates located other than as written: {head} by the head noun, {inflected} by the " \
        f"head noun with a plural or possessive ending, {name} by a name" in caplog.messages
    kinds = [kind for e in examples for kind in e.meta["located"]]
    assert [kinds.count(kind) for kind in ("head", "inflected", "name")] == list(fallbacks)
    blank = not file.startswith("dpr/")
    assert all(set(e.meta) == {"blank", "candidate_text", "located"} and e.meta["blank"] == blank for e in examples)
    exact = [(e, i) for e in examples for i in (0, 1) if e.meta["located"][i] == "exact"]
    assert all(e.span_text(e.candidates[i]).casefold() == e.meta["candidate_text"][i].casefold() for e, i in exact)
    assert all(e.span_text(e.pronoun) == "_" for e in examples) or not blank
    assert {e.label for e in examples} == labels
