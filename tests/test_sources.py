"""Data sources: one dispatcher per kind of data (pretraining text, STS pairs, coref examples, stress sets)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from nlp_underspec import synthetic
from nlp_underspec.config import PretrainConfig, WorldConfig
from nlp_underspec.data import corpus, sources
from nlp_underspec.data.coref import CorefExample, write_candidate_jsonl
from nlp_underspec.data.stsb import load_stsb
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.synthetic_sets import materialize_stress_sets
from nlp_underspec.stress.winogender.data import load_winogender

WORLD = WorldConfig(seed=1, n_corpus_sentences=500, n_sts_pairs=100, n_coref_examples=100, n_sts_templates=10)


def _error(call, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as err:
        call(*args, **kwargs)
    return str(err.value)


# ---------------------------------------------------------------------------------------------- pretraining corpus


def test_synthetic_corpus_is_the_world(tmp_path):
    texts = sources.load_corpus_texts(PretrainConfig(corpus="synthetic"), WORLD)
    assert texts == list(synthetic.build_world(WORLD).corpus) and len(texts) == 500
    texts.append("mutating the returned list")  # a copy: the cached world is untouched
    assert len(synthetic.build_world(WORLD).corpus) == 500


def test_local_file_and_folder(tmp_path):
    (tmp_path / "b.txt").write_text("second file\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text(" = Title = \n\nfirst line \n = = Part = = \nsecond line\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("not text for pretraining\n", encoding="utf-8")
    assert sources.load_corpus_texts(PretrainConfig(corpus=str(tmp_path / "a.txt")), WORLD) == \
        ["first line", "second line"]
    assert sources.load_corpus_texts(PretrainConfig(corpus=str(tmp_path)), WORLD) == \
        ["first line", "second line", "second file"]  # files in name order, headings and blanks dropped


def test_real_wikitext_folder(shared_data):
    texts = sources.load_corpus_texts(PretrainConfig(corpus=str(shared_data / "wikitext-2" / "tokens")), WorldConfig())
    assert len(texts) == 4026  # paragraphs of valid.txt + test.txt (headings and blank lines dropped)
    assert not any(re.fullmatch(r"(=+) .* \1", t) for t in texts)  # no "= Heading =" lines
    assert not any(" @-@ " in t or " @,@ " in t for t in texts)
    assert texts[0].startswith("Robert <unk> is an English film")  # test.txt sorts before valid.txt


@pytest.mark.bad_input
def test_hub_corpus_uses_the_text_column(monkeypatch):
    import datasets

    data = datasets.Dataset.from_dict({"content": [" = Head = ", "a real sentence", "", None]})
    seen = {}

    def fake_load(dataset, config, split, *, layouts):
        seen.update(dataset=dataset, config=config, split=split)
        return data

    monkeypatch.setattr(corpus, "load_hub_dataset", fake_load)
    settings = PretrainConfig(corpus="someone/texts", corpus_config="v1", corpus_split="validation",
                              text_column="content")
    assert sources.load_corpus_texts(settings, WORLD) == ["a real sentence"]
    assert seen == {"dataset": "someone/texts", "config": "v1", "split": "validation"}
    assert _error(sources.load_corpus_texts, dataclasses.replace(settings, text_column="text"), WORLD) == \
        corpus.MISSING_TEXT_COLUMN.format(dataset="someone/texts", column="text", found="content")


@pytest.mark.bad_input
def test_corpus_errors(tmp_path):
    missing = tmp_path / "nope.txt"
    assert _error(sources.load_corpus_texts, PretrainConfig(corpus=str(missing)), WORLD) == (
        f"Corpus path {missing} does not exist. Set pretrain.corpus to 'synthetic', a .txt file, a folder of .txt "
        "files, or a Hub dataset id with pretrain.corpus_config/corpus_split/text_column.")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n = Only a heading = \n\n", encoding="utf-8")
    assert _error(sources.load_corpus_texts, PretrainConfig(corpus=str(empty)), WORLD) == (
        f"Corpus {empty} holds no text (only blank lines or headings). Point pretrain.corpus at text with content.")
    nested = tmp_path / "nested"
    (nested / "raw").mkdir(parents=True)
    (nested / "raw" / "x.txt").write_text("text\n", encoding="utf-8")
    assert _error(sources.load_corpus_texts, PretrainConfig(corpus=str(nested)), WORLD) == (
        f"Corpus folder {nested} holds no .txt files (subfolders with .txt files: raw; pick one). Point "
        "pretrain.corpus at a .txt file or a folder of them.")
    table = tmp_path / "data.csv"
    table.write_text("a,b\n", encoding="utf-8")
    assert _error(sources.load_corpus_texts, PretrainConfig(corpus=str(table)), WORLD) == \
        corpus.NOT_TEXT_FILE.format(path=table)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    assert _error(sources.load_corpus_texts, PretrainConfig(corpus=str(latin)), WORLD) == (  # textio.NOT_TEXT
        f"{latin} is not UTF-8 text: byte 0xE9 is not valid UTF-8; the file may be Latin-1 or Windows-1252 (line 1, "
        "byte offset 3). Save it as UTF-8.")


# ------------------------------------------------------------------------------------------------------- STS pairs


@pytest.mark.bad_input
def test_sts_pairs_synthetic_and_real(shared_data):
    frame = sources.load_sts_pairs("synthetic", "dev", WORLD)
    assert list(frame.columns) == ["sentence1", "sentence2", "label", "source", "line"] and len(frame) == 10
    real = sources.load_sts_pairs(shared_data / "glue_sts-b", "dev", WORLD)
    assert len(real) == 1500 and real["label"].between(0, 5).all()
    assert _error(sources.load_sts_pairs, "synthetic", "validation", WORLD) == \
        "Unknown split 'validation'. Available: train, dev, test."


@pytest.mark.bad_input
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "7", "-0.5", "1e39"])
def test_sts_gold_outside_0_to_5_names_file_and_line(tmp_path, value):
    """Such a gold used to be trained on (1e39 is inf in float32: an all-NaN model recorded complete)."""
    from nlp_underspec.data import stsb

    path = tmp_path / "pairs.tsv"
    path.write_text(f"sentence1\tsentence2\tlabel\na\tb\t3.5\nc\td\t{value}\n", encoding="utf-8")
    assert _error(sources.load_sts_pairs, path, "train", WORLD) == (
        f"{path}, line 3: similarity score {value!r} is not a finite number from 0 to 5 (the STS-B scale). Fix the "
        "score, or leave the field empty for a pair without gold.")
    original = tmp_path / "sts-train.csv"  # the STS Benchmark's own layout: the score is field 5
    original.write_text(f"main-captions\tMSRvid\t2012test\t0001\t{value}\ta\tb\n", encoding="utf-8")
    assert _error(sources.load_sts_pairs, tmp_path, "train", WORLD) == stsb.SCORE_OUT_OF_RANGE.format(
        path=original, line=1, value=value)


@pytest.mark.bad_input
@pytest.mark.parametrize("name, text, line, found", [
    ("ragged.tsv", "sentence1\tsentence2\tlabel\nA man is cooking.\nc\td\t1\n", 2, 1),  # was a pair with ''
    ("ragged.tsv", "sentence1\tsentence2\tlabel\na\tb\t1\nc\td\n", 3, 2),
    ("long.tsv", "sentence1\tsentence2\tlabel\na\tb\t1\nc\td\t1\t\tx\n", 3, 5),
    ("ragged.csv", 'sentence1,sentence2,label\n"a, quoted",b,1\nonly one\n', 3, 1),
])
def test_an_sts_table_row_without_the_headers_field_count_names_file_and_line(tmp_path, name, text, line, found):
    """A short row was padded with empty strings (and scored as a pair); a long one gave pandas' message without
    the file, on two lines."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert _error(load_stsb, path) == (f"{path}, line {line}: expected 3 fields (as many as the header), found "
                                       f"{found}. Fix or remove that line.")


@pytest.mark.bad_input
def test_sts_pairs_without_gold_stay_unlabelled(tmp_path, monkeypatch):
    import datasets
    import numpy as np

    from nlp_underspec.data import stsb

    path = tmp_path / "pairs.tsv"
    path.write_text("sentence1\tsentence2\tlabel\na\tb\t0\nc\td\t\ne\tf\t5\n", encoding="utf-8")
    assert np.array_equal(sources.load_sts_pairs(path, "train", WORLD)["label"], [0, np.nan, 5], equal_nan=True)
    lines = tmp_path / "pairs.jsonl"
    lines.write_text('{"sentence1": "a", "sentence2": "b", "label": null}\n'
                     '{"sentence1": "c", "sentence2": "d", "label": 2.5}\n', encoding="utf-8")
    assert np.array_equal(sources.load_sts_pairs(lines, "train", WORLD)["label"], [np.nan, 2.5], equal_nan=True)
    rows = {"sentence1": ["a", "b", "c"], "sentence2": ["x", "y", "z"], "label": [-1.0, 3.0, 6.0]}
    monkeypatch.setattr(stsb, "load_hub_dataset", lambda *args, **kwargs: datasets.Dataset.from_dict(rows))
    assert _error(sources.load_sts_pairs, "someone/sts", "dev", WORLD) == (
        "Hub dataset someone/sts (validation split), row 2: similarity score 6.0 is not a finite number from 0 to 5 "
        "(the STS-B scale). Pass a local copy with the scores fixed.")


# ---------------------------------------------------------------------------------------------- coref examples


@pytest.mark.bad_input
def test_coref_synthetic_jsonl_and_gap(tmp_path, shared_data):
    examples = sources.load_coref_examples("synthetic", "train", WORLD)
    assert len(examples) == 80 and all(isinstance(e, CorefExample) for e in examples)
    folder = tmp_path / "cands"
    for split in ("train", "dev"):
        write_candidate_jsonl(folder / f"{split}.jsonl", sources.load_coref_examples("synthetic", split, WORLD))
    assert sources.load_coref_examples(folder, "dev", WORLD) == sources.load_coref_examples("synthetic", "dev", WORLD)
    assert sources.load_coref_examples(folder / "train.jsonl", "test", WORLD) == examples  # a file is its own split
    assert len(sources.load_coref_examples(shared_data / "gap", "dev", WORLD)) == 392
    assert len(sources.load_coref_examples(shared_data / "gap" / "gap-validation.tsv", "train", WORLD)) == 392
    assert _error(sources.load_coref_examples, folder, "test", WORLD) == (
        f"Coreference folder {folder} has no test.jsonl for the 'test' split. Pass {sources.COREF_LAYOUTS}.")


@pytest.mark.bad_input
@pytest.mark.parametrize("label", ["2", "-1", "1.5", '"1"', "true", "NaN"])
def test_a_coref_answer_must_be_one_of_the_candidates(tmp_path, label):
    """1.5 passed the range check and became candidate 1; "1" was a TypeError."""
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "the nurse told the patient that she would help .", "pronoun": [32, 35], '
                    f'"candidates": [[4, 9], [19, 26]], "label": {label}}}\n', encoding="utf-8")
    shown = {"true": "True", "NaN": "nan", '"1"': "'1'"}.get(label, label)
    assert _error(sources.load_coref_examples, path, "train", WORLD) == (
        f"{path}, line 1: label {shown} is not an index into its 2 candidates (an integer from 0 to 1).")


@pytest.mark.bad_input
@pytest.mark.parametrize("pronoun, candidates, problem", [
    ("[32, 35]", "[[32, 35], [19, 26]]", "the pronoun span [32, 35] overlaps candidate 0's span [32, 35], but a "
     "pronoun is never part of its own antecedent. Fix the offsets, or remove that line."),
    ("[32, 35]", "[[4, 9], [30, 34]]", "the pronoun span [32, 35] overlaps candidate 1's span [30, 34], but a pronoun "
     "is never part of its own antecedent. Fix the offsets, or remove that line."),
    ("[32, 35]", "[[19, 26], [4, 9], [19, 26]]", "candidates 0 and 2 are the same span [19, 26], so a label naming one "
     "names both. Remove one of them (and renumber the label)."),
])
def test_a_coref_example_that_contradicts_itself_is_refused(tmp_path, pronoun, candidates, problem):
    """Both trained to "complete": the pronoun as its own antecedent, or one span both gold and wrong."""
    path = tmp_path / "train.jsonl"
    good = ('{"text": "the nurse told the patient that she would help .", "pronoun": [32, 35], '
            '"candidates": [[4, 9], [19, 26]], "label": 0}\n')
    path.write_text(good + good.replace("[32, 35]", pronoun).replace("[[4, 9], [19, 26]]", candidates),
                    encoding="utf-8")
    assert _error(sources.load_coref_examples, path, "train", WORLD) == f"{path}, line 2: {problem}"


@pytest.mark.bad_input
def test_coref_errors(tmp_path):
    assert _error(sources.load_coref_examples, tmp_path / "gone", "train", WORLD) == (
        f"Coreference data {tmp_path / 'gone'} does not exist. Pass 'synthetic', a GAP folder (gap-development.tsv, "
        "gap-validation.tsv, gap-test.tsv) or one GAP .tsv file, a JSON Lines file (.jsonl) in the candidate or the "
        "WinoGrande layout, a folder with train.jsonl/dev.jsonl/test.jsonl, or a .txt file of 4-line Winograd blocks "
        "(DPR, WSC273, WikiCREM).")
    (tmp_path / "x.csv").write_text("a\n", encoding="utf-8")
    assert _error(sources.load_coref_examples, tmp_path / "x.csv", "train", WORLD) == \
        sources.COREF_UNKNOWN_LAYOUT.format(path=tmp_path / "x.csv")
    assert _error(sources.load_coref_examples, tmp_path, "train", WORLD) == \
        sources.COREF_UNKNOWN_LAYOUT.format(path=tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    assert _error(sources.load_coref_examples, tmp_path / "empty.jsonl", "train", WORLD) == \
        f"Coreference data {tmp_path / 'empty.jsonl'} (train split) holds no examples."
    assert _error(sources.load_coref_examples, "synthetic", "eval", WORLD) == \
        "Unknown split 'eval'. Available: train, dev, test."


# --------------------------------------------------------------------------------------------------- stress sets


def test_materialize_stress_sets_for_the_evaluator(tmp_path):
    paths = materialize_stress_sets(WORLD, tmp_path / "stress")
    assert set(paths) == {"stsb", "winogender", "calibration"}
    assert len(load_stsb(paths["stsb"])) == 2 * WORLD.n_sts_templates
    assert len(load_winogender(paths["winogender"]).sentences) == 1080
    from nlp_underspec.stress.calibration import target_table

    table, reference = target_table(str(paths["calibration"]))  # the planted table is the calibration target
    assert reference == "planted" and len(table) == 60
    assert materialize_stress_sets(synthetic.build_world(WORLD), tmp_path / "stress") == paths


@pytest.mark.bad_input
@pytest.mark.parametrize("raised, reason", [
    (ValueError("Dataset 'someorg/sts' doesn't exist on the Hub"), "Dataset 'someorg/sts' doesn't exist on the Hub"),
    (OSError("Couldn't reach 'someorg/sts' on the Hub (LocalEntryNotFoundError)"),
     "Couldn't reach 'someorg/sts' on the Hub (LocalEntryNotFoundError)"),
])
def test_a_hub_id_that_cannot_be_loaded_says_which_local_layouts_to_pass(monkeypatch, raised, reason):
    """Whatever the client raises (a missing dataset, an endpoint that refuses connections), one sentence ending
    with what to pass instead."""
    import datasets

    def failing(*args, **kwargs):
        raise raised

    monkeypatch.setattr(datasets, "load_dataset", failing)
    assert _error(load_stsb, "someorg/sts", "test") == (
        f"'someorg/sts' is neither a local path nor a dataset on the Hugging Face Hub ({reason}). Pass the STS "
        "Benchmark folder with sts-train.csv/sts-dev.csv/sts-test.csv, the GLUE STS-B folder with "
        "train.tsv/dev.tsv/test.tsv, or a .csv/.tsv/.json/.jsonl file with sentence1,sentence2[,label].")


@pytest.mark.bad_input
def test_a_json_sts_record_without_a_sentence_is_named(tmp_path):
    """pandas fills a missing key with NaN, which used to become the sentence "nan"; a number became "5"."""
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"sentence1": "A man runs.", "sentence2": "A dog runs.", "label": 3}\n'
                    '{"sentence1": "A woman sings.", "label": 2}\n')
    assert _error(load_stsb, path, "test") == (f"{path}, line 2: sentence2 must be a sentence (text), got no value. "
                                               "Fix or remove that record.")
    path.write_text('{"sentence1": 5, "sentence2": "A dog runs.", "label": 3}\n')
    assert _error(load_stsb, path, "test") == (f"{path}, line 1: sentence1 must be a sentence (text), got 5. Fix or "
                                               "remove that record.")
