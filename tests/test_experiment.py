"""The one reader of an experiment folder: the analysis and the report read the same scores, pretrained/ included."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_family import build_family

from nlp_underspec.analysis.family import load_analysis_inputs as load_analysis_family
from nlp_underspec.artifacts import PRETRAINED, SCORES, parse_run_id
from nlp_underspec.experiment.family import load_family
from nlp_underspec.stored_results import read_experiment_scores, read_experiment_triplets
from nlp_underspec.results import read_scores, write_scores


def test_analysis_and_report_read_the_same_scores_with_the_pretrained_part(tmp_path):
    root = build_family(tmp_path / "exp", None, runs=False)
    assert (root / PRETRAINED / SCORES).is_file()
    scores = read_experiment_scores(root)
    pd.testing.assert_frame_equal(load_family(root).scores, scores)
    pd.testing.assert_frame_equal(load_analysis_family(root).scores, scores)
    assert set(scores["model"]) == set(read_scores(root)["model"]) | set(read_scores(root / PRETRAINED)["model"])


def test_a_model_in_both_folders_keeps_the_experiment_folders_rows_only(tmp_path):
    """One rule: a model's results come from one folder, the experiment folder's own when both hold it."""
    root = build_family(tmp_path / "exp", None, runs=False)
    main = read_scores(root)
    pretrained = read_scores(root / PRETRAINED)
    stray = main[main["model"] == main["model"].iloc[0]].assign(metric="only_in_pretrained")
    write_scores(root / PRETRAINED / SCORES, pd.concat([pretrained, stray], ignore_index=True))
    scores = read_experiment_scores(root)
    assert "only_in_pretrained" not in set(scores["metric"])
    assert "only_in_pretrained" not in set(load_family(root).scores["metric"])


def test_a_folder_without_scores_reads_as_an_empty_table_when_not_required(tmp_path):
    assert read_experiment_scores(tmp_path, required=False).empty
    assert read_experiment_triplets(tmp_path) == {}


def test_run_ids_parse_to_their_seeds():
    assert parse_run_id("p03-f01") == (3, 1) and parse_run_id("p03").is_pretrained
    assert parse_run_id("f01") == (None, 1) and parse_run_id("bert-base-uncased") is None


def test_analysis_and_report_read_the_same_triplets(tmp_path):
    root = build_family(tmp_path / "exp", None, runs=False, calibration={0: 0.8, 1: 0.3})
    ours, analysis = load_family(root).triplets(), load_analysis_family(root).triplets
    assert set(ours) == set(analysis) and "calibration" in ours
    for test, triplet in ours.items():
        pd.testing.assert_frame_equal(triplet.run_info, analysis[test].run_info)
