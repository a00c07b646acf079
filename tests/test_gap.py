"""The GAP loader on the real files, and its errors for malformed rows."""

from __future__ import annotations

import logging

import pytest

from nlp_underspec.data import gap
from nlp_underspec.errors import UsageError

HEADER = "ID\tText\tPronoun\tPronoun-offset\tA\tA-offset\tA-coref\tB\tB-offset\tB-coref\tURL"
GOOD = "t-1\tAnna met Ben. She waved.\tShe\t14\tAnna\t0\tTRUE\tBen\t9\tFALSE\thttp://x"


def _write(tmp_path, *rows, name="gap-development.tsv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _error(path, split="train") -> str:
    with pytest.raises(UsageError) as err:
        gap.load_gap(path, split)
    return str(err.value)


@pytest.mark.parametrize("split, kept, dropped, b_answers", [
    ("train", 1799, 201, 925), ("dev", 392, 62, 205), ("test", 1773, 227, 855)])  # counted with awk
def test_real_gap_counts(shared_data, caplog, split, kept, dropped, b_answers):
    with caplog.at_level(logging.INFO, logger="nlp_underspec.data.gap"):
        examples = gap.load_gap(shared_data / "gap", split)
    assert len(examples) == kept
    assert sum(e.label for e in examples) == b_answers
    assert f"{kept} examples, {dropped} rows dropped because neither A nor B is the antecedent" in caplog.text
    for example in examples:
        assert example.span_text(example.pronoun) == example.meta["pronoun_text"]
        assert len(example.candidates) == 2 and example.label in (0, 1)


def test_a_good_row(tmp_path):
    (example,) = gap.load_gap(_write(tmp_path, GOOD))
    assert example.id == "t-1" and example.label == 0
    assert [example.span_text(s) for s in (example.pronoun, *example.candidates)] == ["She", "Anna", "Ben"]


def test_a_single_file_is_read_whatever_the_split(tmp_path):
    path = _write(tmp_path, GOOD, name="mine.tsv")
    assert len(gap.load_gap(path, "test")) == 1


@pytest.mark.bad_input
def test_malformed_rows_name_file_and_line(tmp_path):
    path = _write(tmp_path, GOOD, GOOD.replace("\t14\t", "\t13\t"))
    assert _error(path) == (f"{path}, line 3: pronoun 'She' is not at offset 13 of the text (found ' Sh'). "
                            "Fix the offset or the mention.")
    path = _write(tmp_path, GOOD.replace("\t9\t", "\tnine\t"))
    assert _error(path) == f"{path}, line 2: B-offset must be a non-negative integer, got 'nine'."
    path = _write(tmp_path, GOOD.replace("TRUE", "yes"))
    assert _error(path) == f"{path}, line 2: A-coref must be TRUE or FALSE, got 'yes'."
    path = _write(tmp_path, GOOD.replace("FALSE", "TRUE"))
    assert _error(path) == f"{path}, line 2: A-coref and B-coref are both TRUE; at most one name can be the antecedent."
    path = _write(tmp_path, GOOD + "\textra")
    assert _error(path) == f"{path}, line 2: expected 11 tab-separated fields, found 12. Fix or remove that line."
    path = tmp_path / "gap-development.tsv"
    path.write_text("ID\tText\n", encoding="utf-8")
    assert _error(path) == (f"{path} is missing column(s) Pronoun, Pronoun-offset, A, A-offset, A-coref, B, B-offset, "
                            f"B-coref (found: ID, Text). {gap.HINT}")


def test_neither_rows_are_dropped(tmp_path):
    path = _write(tmp_path, GOOD, GOOD.replace("TRUE", "FALSE"))
    assert len(gap.load_gap(path)) == 1


@pytest.mark.bad_input
def test_folder_and_split_errors(tmp_path):
    assert _error(tmp_path / "none") == (f"GAP path {tmp_path / 'none'} does not exist. Pass the GAP folder "
                                         "(gap-development.tsv, gap-validation.tsv, gap-test.tsv) or one of its files.")
    _write(tmp_path, GOOD)
    assert _error(tmp_path, "dev") == (f"GAP folder {tmp_path} has no gap-validation.tsv (the 'dev' split). Pass the "
                                       "folder holding the GAP files.")
    assert _error(tmp_path, "validation") == \
        "Unknown GAP split 'validation'. Available: train (development), dev (validation), test."
    empty = _write(tmp_path, name="gap-test.tsv")
    assert _error(empty, "test") == f"{empty} holds no GAP rows."
