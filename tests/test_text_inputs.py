"""Every text input goes through one reader (nlp_underspec.textio): BOM'd UTF-8 and UTF-16 are read like UTF-8, and a
file in any other encoding is one error naming the file, the line and byte offset, and what to do."""

from __future__ import annotations

import codecs
import json

import pytest

from nlp_underspec.config import WorldConfig, read_recipe_yaml
from nlp_underspec.data import sources
from nlp_underspec.data.coref import read_candidate_jsonl
from nlp_underspec.data.corpus import read_local_corpus
from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.data.stsb import load_stsb
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.winogender.data import load_winogender
from nlp_underspec.tables import read_tsv
from nlp_underspec.textio import decode_text, visible

WORLD = WorldConfig(seed=1, n_corpus_sentences=500, n_sts_pairs=100, n_coref_examples=100, n_sts_templates=10)
LATIN1 = "byte 0xE9 is not valid UTF-8; the file may be Latin-1 or Windows-1252"


def _error(call, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as err:
        call(*args, **kwargs)
    return str(err.value)


def _not_utf8(path, problem: str, line: int, offset: int) -> str:
    """textio.NOT_TEXT, spelled out."""
    return f"{path} is not UTF-8 text: {problem} (line {line}, byte offset {offset}). Save it as UTF-8."


def _reencode(source, target, encoding: str, *, bom: bytes = b""):
    target.write_bytes(bom + source.read_text(encoding="utf-8").encode(encoding))
    return target


# ---------------------------------------------------------------------------------------------- detected encodings


@pytest.mark.parametrize("encoding, bom", [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
                                           ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_winogender_in_bom_encodings_reads_as_utf8(shared_data, tmp_path, encoding, bom):
    original = shared_data / "winogender" / "data"
    folder = tmp_path / "winogender"
    folder.mkdir()
    for name in ("all_sentences.tsv", "occupations-stats.tsv"):
        _reencode(original / name, folder / name, encoding, bom=bom)
    data = load_winogender(folder)
    expected = load_winogender(original)
    assert data.sentences.drop(columns="line").equals(expected.sentences.drop(columns="line"))
    assert data.stats.equals(expected.stats)  # the BOM'd header is "occupation", not "\ufeffoccupation"


def test_bom_utf8_occupation_stats_and_stsb(shared_data, tmp_path):
    stats = _reencode(shared_data / "winogender" / "data" / "occupations-stats.tsv", tmp_path / "stats.tsv", "utf-8",
                      bom=codecs.BOM_UTF8)
    assert load_occupation_stats(stats).equals(load_occupation_stats(shared_data / "winogender" / "data" /
                                                                     "occupations-stats.tsv"))
    glue = tmp_path / "glue"
    glue.mkdir()
    _reencode(shared_data / "glue_sts-b" / "dev.tsv", glue / "dev.tsv", "utf-16-le", bom=codecs.BOM_UTF16_LE)
    frame = load_stsb(glue, "dev")
    assert frame[["sentence1", "sentence2", "label"]].equals(
        load_stsb(shared_data / "glue_sts-b", "dev")[["sentence1", "sentence2", "label"]])
    original = _reencode(shared_data / "stsbenchmark" / "sts-test.csv", tmp_path / "sts-test.csv", "utf-8",
                         bom=codecs.BOM_UTF8)
    assert len(load_stsb(original)) == 1379  # the original layout without header, detected past the BOM


def test_bom_json_lines_corpus_and_recipe(tmp_path):
    row = {"id": "a", "text": "The nurse said she would help.", "pronoun": [15, 18], "candidates": [[4, 9], [0, 3]],
           "label": 0}
    candidates = tmp_path / "train.jsonl"
    candidates.write_bytes(codecs.BOM_UTF16_LE + (json.dumps(row) + "\n").encode("utf-16-le"))
    assert [e.id for e in read_candidate_jsonl(candidates)] == ["a"]
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(codecs.BOM_UTF8 + "première phrase\r\nseconde\n".encode("utf-8"))
    assert read_local_corpus(corpus) == ["première phrase", "seconde"]
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(codecs.BOM_UTF16_BE + "name: café\nthreads: 1\n".encode("utf-16-be"))
    assert read_recipe_yaml(recipe) == {"name": "café", "threads": 1}


# ---------------------------------------------------------------------------------------------- refused encodings


@pytest.mark.bad_input
def test_latin1_winogender_names_file_line_and_offset(tmp_path):
    path = tmp_path / "all_sentences.tsv"
    path.write_bytes("sentid\tsentence\nnurse.patient.0.female.txt\tThe nurse's café visit.\n".encode("latin-1"))
    assert _error(load_winogender, path) == _not_utf8(path, LATIN1, line=2, offset=58)


@pytest.mark.bad_input
def test_utf16_without_bom_is_named_as_such(shared_data, tmp_path):
    path = _reencode(shared_data / "winogender" / "data" / "occupations-stats.tsv", tmp_path / "stats.tsv", "utf-16-le")
    assert _error(load_occupation_stats, path) == _not_utf8(
        path, "it holds NUL bytes; it looks like UTF-16 saved without a byte-order mark", line=1, offset=1)


@pytest.mark.bad_input
def test_every_reader_refuses_latin1(tmp_path):
    """STS files (both layouts), candidate JSON Lines, corpora and recipes: the same message."""
    original = tmp_path / "sts-test.csv"
    original.write_bytes("main-captions\tMSRvid\t2012test\t0001\t5.0\tA man is in a café.\tA man sits.\n"
                         .encode("latin-1"))
    assert _error(load_stsb, original) == _not_utf8(original, LATIN1, line=1, offset=56)
    table = tmp_path / "pairs.tsv"
    table.write_bytes("sentence1\tsentence2\tlabel\nA café.\tA bar.\t1\n".encode("latin-1"))
    assert _error(load_stsb, table) == _not_utf8(table, LATIN1, line=2, offset=31)
    as_json = tmp_path / "pairs.jsonl"
    as_json.write_bytes('{"sentence1": "caf\xe9", "sentence2": "b"}\n'.encode("latin-1"))
    assert _error(load_stsb, as_json) == _not_utf8(as_json, LATIN1, line=1, offset=18)
    candidates = tmp_path / "c.jsonl"
    candidates.write_bytes('{"text": "caf\xe9"}\n'.encode("latin-1"))
    assert _error(sources.load_coref_examples, candidates, "train", WORLD) == _not_utf8(candidates, LATIN1, line=1,
                                                                                         offset=13)
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes("first line\nsecond caf\xe9\n".encode("latin-1"))
    assert _error(read_local_corpus, corpus) == _not_utf8(corpus, LATIN1, line=2, offset=21)
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert _error(read_recipe_yaml, recipe) == _not_utf8(recipe, LATIN1, line=1, offset=9)


@pytest.mark.bad_input
def test_truncated_binary_and_broken_bom_files():
    assert _error(decode_text, "line one\ncaf\xe9".encode()[:-1], "x.tsv") == _not_utf8(
        "x.tsv", "the file ends inside a multi-byte character; it may be truncated", line=2, offset=12)
    assert _error(decode_text, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "x.tsv") == _not_utf8(
        "x.tsv", "it holds a NUL byte, so it is binary, not text", line=3, offset=8)
    assert _error(decode_text, codecs.BOM_UTF16_LE + b"a\x00\x00\xd8", "x.tsv") == _not_utf8(
        "x.tsv", "it starts with a UTF-16 LE byte-order mark but what follows is not UTF-16 LE: unexpected end of data",
        line=1, offset=4)


# ---------------------------------------------------------------------------------------------- headers as read


@pytest.mark.bad_input
def test_missing_header_shows_invisible_characters(tmp_path):
    path = tmp_path / "all_sentences.tsv"
    path.write_text("sent\u200bid\tsentence\n", encoding="utf-8")
    assert _error(load_winogender, path) == (
        f"{path} is missing column(s) sentid (found: sent<U+200B>id, sentence). Expected the Winogender "
        "all_sentences.tsv layout.")
    doubled = tmp_path / "doubled.tsv"  # a BOM saved twice: the reader strips the first, the header shows the second
    doubled.write_bytes(codecs.BOM_UTF8 * 2 + b"occupation\tbls_pct_female\n")
    assert _error(load_occupation_stats, doubled) == (
        f"{doubled} is missing column(s) occupation (found: <U+FEFF>occupation, bls_pct_female). Expected the "
        "Winogender occupations-stats.tsv layout.")
    assert visible("a\tb\xa0c") == "a<U+0009>b<U+00A0>c"


@pytest.mark.bad_input
def test_a_folder_or_unreadable_file_is_named(tmp_path):
    assert _error(read_tsv, tmp_path, hint="Pass the file.") == f"{tmp_path} is a folder, not a file. Pass the file."
    assert _error(read_local_corpus, tmp_path / "a.txt") == (
        f"Corpus path {tmp_path / 'a.txt'} does not exist. Set pretrain.corpus to 'synthetic', a .txt file, a folder "
        "of .txt files, or a Hub dataset id with pretrain.corpus_config/corpus_split/text_column.")
    (tmp_path / "d.txt").mkdir()  # a folder named like a corpus file, inside a corpus folder
    (tmp_path / "e.txt").write_text("text\n", encoding="utf-8")
    assert read_local_corpus(tmp_path) == ["text"]


@pytest.mark.bad_input
def test_candidate_lines_of_the_wrong_shape(tmp_path):
    path = tmp_path / "c.jsonl"
    text = "The nurse said she would help."
    for line, message in (
            ('["a list"]', f"{path}, line 1: expected a JSON object with text, pronoun, candidates and label, got a "
                           "JSON array."),
            (json.dumps({"text": text, "pronoun": 15, "candidates": [[4, 9], [0, 3]], "label": 0}),
             f"{path}, line 1: 'pronoun' must be a [start, end] pair of integers, got 15."),
            (json.dumps({"text": text, "pronoun": [15, 18], "candidates": [["4", "9"], [0, 3]], "label": 0}),
             f"{path}, line 1: 'candidates' must be a list of [start, end] pairs of integers, got [[\"4\", \"9\"], "
             "[0, 3]]."),
            (json.dumps({"text": text, "pronoun": [15, 18], "candidates": [[4, 9], [0, 3]], "label": "0"}),
             f"{path}, line 1: label '0' is not an index into its 2 candidates (an integer from 0 to 1).")):
        path.write_text(line + "\n", encoding="utf-8")
        assert _error(read_candidate_jsonl, path) == message


@pytest.mark.bad_input
def test_a_named_pipe_is_refused_not_waited_on(tmp_path):
    """A FIFO as the pretraining corpus blocked the command with no output until it was killed."""
    import os

    from nlp_underspec import textio

    fifo = tmp_path / "corpus.txt"
    os.mkfifo(fifo)
    expected = (f"{fifo} is not a regular file (a named pipe, socket or device), so reading it would wait for a "
                "writer or never end. Pass a file saved on disk.")
    for read in (textio.read_text, lambda path: list(textio.iter_lines(path))):
        with pytest.raises(UsageError) as err:
            read(fifo)
        assert str(err.value) == expected
