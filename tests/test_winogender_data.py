"""Winogender loading: the original repository layout, one file, bad rows named by file and line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nlp_underspec.data.occupations import OCCUPATIONS
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.winogender.data import coref_example, load_winogender


@pytest.fixture
def winogender_copy(shared_data, tmp_path):
    folder = tmp_path / "winogender"
    shutil.copytree(shared_data / "winogender" / "data", folder)
    return folder


def test_repository_layout_as_is(shared_data):
    data = load_winogender(shared_data / "winogender" / "data")
    frame = data.sentences
    assert len(frame) == 720
    assert frame.groupby("gender").size().to_dict() == {"female": 240, "male": 240, "neutral": 240}
    assert frame["answer"].isin([0, 1]).all() and frame["occupation"].nunique() == 60
    assert data.stats is not None and len(data.stats) == 60  # occupations-stats.tsv, validated
    # the repository's figures are the shipped ones, so Rudinger et al.'s r = 0.672 (BLS vs Bergsma) holds for both
    from nlp_underspec.data.occupations import load_occupation_stats

    shipped = load_occupation_stats()
    assert data.stats.loc[shipped.index, "bls_pct_female"].tolist() == shipped["bls_pct_female"].tolist()
    r = np.corrcoef(data.stats["bls_pct_female"], data.stats["bergsma_pct_female"])[0, 1]
    assert round(float(r), 3) == 0.672
    first = frame.iloc[0]
    assert (first["sentid"], first["pronoun"], first["line"]) == ("technician.customer.1.male.txt", "he", 2)


def test_every_real_sentence_becomes_a_candidate_example(shared_data):
    frame = load_winogender(shared_data / "winogender" / "data").sentences
    for row in frame.to_dict("records"):
        example = coref_example(row)
        pronoun, occupation, participant = (example.span_text(s).lower() for s in (example.pronoun, *example.candidates))
        assert occupation == row["occupation"] and participant == row["participant"]
        assert pronoun == row["pronoun"].lower() and example.label == row["answer"]


def test_single_file_layout(shared_data):
    data = load_winogender(shared_data / "winogender" / "data" / "all_sentences.tsv")
    assert len(data.sentences) == 720 and data.stats is None


@pytest.mark.bad_input
def test_missing_path(tmp_path):
    with pytest.raises(UsageError) as err:
        load_winogender(tmp_path / "nowhere")
    assert str(err.value) == (
        f"Winogender path {tmp_path / 'nowhere'} does not exist. Pass the Winogender repository's data folder "
        "(all_sentences.tsv, optionally occupations-stats.tsv), an all_sentences.tsv file (columns sentid, sentence), "
        "or a Hub dataset id with sentid and sentence columns.")


@pytest.mark.bad_input
def test_folder_without_sentences(tmp_path):
    with pytest.raises(UsageError) as err:
        load_winogender(tmp_path)
    assert str(err.value).startswith(f"Winogender folder {tmp_path} has no all_sentences.tsv. Pass the Winogender")


@pytest.mark.bad_input
def test_missing_column(tmp_path):
    path = tmp_path / "all_sentences.tsv"
    path.write_text("id\tsentence\nnurse.patient.0.female.txt\tThe nurse helped the patient because she could.\n")
    with pytest.raises(UsageError) as err:
        load_winogender(path)
    assert str(err.value) == (f"{path} is missing column(s) sentid (found: id, sentence). Expected the Winogender "
                              "all_sentences.tsv layout.")


@pytest.mark.bad_input
def test_malformed_row_names_file_and_line(winogender_copy):
    path = winogender_copy / "all_sentences.tsv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5] + "\textra"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError) as err:
        load_winogender(winogender_copy)
    assert str(err.value) == f"{path}, line 6: expected 2 tab-separated fields, found 3. Fix or remove that line."


@pytest.mark.bad_input
def test_bad_sentid_and_unknown_occupation(tmp_path):
    path = tmp_path / "all_sentences.tsv"
    path.write_text("sentid\tsentence\nnurse.patient.2.female.txt\tThe nurse told the patient she would.\n")
    with pytest.raises(UsageError) as err:
        load_winogender(path)
    assert str(err.value) == (f"{path}, line 2: sentid 'nurse.patient.2.female.txt' is not "
                              "occupation.participant.answer.gender.txt (answer 0, 1 or u; gender female, male or "
                              "neutral). Fix or remove that line.")
    path.write_text("sentid\tsentence\nwizard.patient.0.female.txt\tThe wizard told the patient she would.\n")
    with pytest.raises(UsageError) as err:
        load_winogender(path)
    assert str(err.value) == (f"{path}, line 2: unknown occupation 'wizard' in sentid 'wizard.patient.0.female.txt'. "
                              f"Winogender covers the 60 occupations of the shipped statistics (e.g. "
                              f"{', '.join(OCCUPATIONS[:3])}).")


@pytest.mark.bad_input
def test_sentence_lacking_its_pronoun(tmp_path):
    path = tmp_path / "all_sentences.tsv"
    path.write_text("sentid\tsentence\nnurse.patient.0.female.txt\tThe nurse told the patient he would.\n")
    with pytest.raises(UsageError) as err:
        load_winogender(path)
    assert str(err.value) == (f"{path}, line 2: the sentence does not contain the pronoun 'she/her/hers/herself' that "
                              "sentid 'nurse.patient.0.female.txt' names. Fix the sentence or its sentid.")


@pytest.mark.bad_input
def test_stats_file_beside_sentences_is_validated(winogender_copy):
    stats = winogender_copy / "occupations-stats.tsv"
    lines = stats.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split("\t")[0], "wizard", 1)
    stats.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError) as err:
        load_winogender(winogender_copy)
    assert str(err.value) == (f"{stats}, line 4: unknown occupation 'wizard'. The stress tests cover the 60 Winogender "
                              "occupations (e.g. technician, accountant, supervisor); fix the name or drop the row.")


@pytest.mark.bad_input
def test_stats_file_missing_occupations(winogender_copy):
    stats = winogender_copy / "occupations-stats.tsv"
    lines = stats.read_text().splitlines()
    stats.write_text("\n".join(lines[:-2]) + "\n")  # drop the last two occupations
    with pytest.raises(UsageError) as err:
        load_winogender(winogender_copy)
    missing = [line.split("\t")[0] for line in lines[-2:]]
    assert str(err.value) == (f"{stats} lacks 2 of the 60 Winogender occupations: {', '.join(missing)}. Add their rows "
                              "(bls_pct_female is needed for every occupation).")
