"""Seed-unstable items: each item's variance across a family split into between- and within-pretraining-seed parts,
checked on hand-made matrices; ranking; a one-seed family that cannot tell; the demo family through analyze, the CLI
and the report's rows; bad input with its exact message."""

from __future__ import annotations

import json
import types

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import cli
from nlp_underspec.analysis import unstable_items as unstable
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.analysis.display import unstable_table
from nlp_underspec.analysis.scoring import ITEM_LABELS, ITEM_PROFILES
from nlp_underspec.analysis.statements import analyze
from nlp_underspec.analysis.variance import seed_share
from nlp_underspec.errors import UsageError
from nlp_underspec.report.page import _unstable_rows
from nlp_underspec.stress.registry import available_stress_tests
from nlp_underspec.triplet import read_predictions


def _profile(columns: dict, seeds=(0, 0, 1, 1), runs=(0, 1, 0, 1)) -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([[f"p{s}-f{r}" for s, r in zip(seeds, runs)], list(seeds), list(runs)],
                                      names=["model", "pretrain_seed", "finetune_seed"])
    return pd.DataFrame(columns, index=index)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_family(tmp_path_factory.mktemp("demo"))


def test_split_equals_a_hand_computation():
    # item a: seed 0 runs 1, 3; seed 1 runs 5, 7. Means 2 and 6, grand mean 4.
    # MS between = 2 * ((2-4)^2 + (6-4)^2) / (2-1) = 16; MS within = (1+1+1+1) / (4-2) = 2; n0 = 2.
    # between = (16 - 2) / 2 = 7, within = 2, share = 7 / 9; sample variance of 1, 3, 5, 7 = 20 / 3.
    table = unstable.item_variances(_profile({"a": [1.0, 3.0, 5.0, 7.0], "b": [0.0, 2.0, 0.0, 2.0]}))
    a = table.loc["a"]
    assert a["variance"] == pytest.approx(20 / 3)
    assert (a["between_var"], a["within_var"], a["share_between"]) == pytest.approx((7.0, 2.0, 7 / 9))
    # b: seed means equal (1, 1): MS between 0 < MS within 2, so between is truncated at 0 and the share is 0
    b = table.loc["b"]
    assert (b["between_var"], b["within_var"], b["share_between"]) == pytest.approx((0.0, 2.0, 0.0))
    assert (a["n_models"], a["n_seeds"]) == (4, 2)
    # the split is variance.seed_share's, not a copy of it
    reused = seed_share(_profile({"a": [1.0, 3.0, 5.0, 7.0]})["a"])
    assert (a["between_var"], a["within_var"]) == pytest.approx((reused["between_var"], reused["within_var"]))
    assert list(a["icc_ci95"]) == pytest.approx(reused["icc_ci95"])
    # a share of variance lies in [0, 1]: the ICC's interval is clipped there (2 seeds: its lower end is below 0)
    assert reused["icc_ci95"][0] < 0
    assert list(a["share_ci95"]) == pytest.approx([0.0, reused["icc_ci95"][1]])
    assert pd.isna(a["share_note"])  # no note: the interval is a measured one


def test_an_icc_interval_wholly_below_zero_gives_no_share_interval():
    # b's seed means are equal (F = 0), so the ICC interval's upper end is (0 - 1) / (0 + 2 - 1) = -1: its share 0 is
    # the estimator's truncation, and an interval [0, 0] would claim a measured 0
    table = unstable.item_variances(_profile({"a": [1.0, 3.0, 5.0, 7.0], "b": [0.0, 2.0, 0.0, 2.0]}))
    b = table.loc["b"]
    assert b["share_between"] == 0.0 and b["share_ci95"] is None
    assert b["icc_ci95"][1] == pytest.approx(-1.0)
    assert b["share_note"] == unstable.NO_SHARE_INTERVAL.format(low=b["icc_ci95"][0], high=b["icc_ci95"][1])
    assert b["share_note"].startswith("ICC interval [")
    assert "wholly below 0" in b["share_note"]
    rows = {row["item"]: row for row in unstable._rows(table, "item")}
    assert rows["b"]["share_ci95"] is None and rows["b"]["share_note"] == b["share_note"]
    assert "share_note" not in rows["a"]


def test_items_templates_and_occupations_are_ranked_by_variance():
    profile = _profile({"t0:nurse": [0.0, 0.1, 0.0, 0.1], "t0:pilot": [0.0, 1.0, 2.0, 3.0],
                        "t1:nurse": [0.0, 0.0, 1.0, 1.0], "t1:pilot": [0.0, 0.0, 0.0, 0.0]})
    labels = pd.DataFrame({"template_id": [0, 0, 1, 1], "occupation": ["nurse", "pilot", "nurse", "pilot"]},
                          index=profile.columns)
    entry = unstable.unstable_items(profile, labels, top=3)
    assert [row["item"] for row in entry["items"]] == ["t0:pilot", "t1:nurse", "t0:nurse"]
    assert entry["items"][0]["variance"] == pytest.approx(5 / 3)
    pilot = entry["occupations"][0]
    assert pilot["occupation"] == "pilot" and pilot["n_items"] == 2
    assert pilot["variance"] == pytest.approx((5 / 3 + 0.0) / 2)  # mean of its items' variances
    assert pilot["share_between"] == pytest.approx(pilot["between_var"] / (pilot["between_var"] + pilot["within_var"]))
    assert [row["template"] for row in entry["templates"]] == ["0", "1"]
    # the constant item has no variance to split: 0 and 0, its share not stated
    constant = unstable.item_variances(profile).loc["t1:pilot"]
    assert (constant["variance"], constant["between_var"], constant["within_var"]) == (0.0, 0.0, 0.0)
    assert np.isnan(constant["share_between"])
    # two seeds: the split is made but not trusted
    assert entry["split"] == "made" and entry["reliable"] is False
    assert entry["reliability_note"] == ("the split rests on 2 pretraining seeds: fewer than 3, so the between-seed "
                                         "part is not trustworthy")


def test_one_pretraining_seed_cannot_tell():
    profile = _profile({"a": [1.0, 3.0, 5.0, 7.0]}, seeds=(0, 0, 0, 0), runs=(0, 1, 2, 3))
    entry = unstable.unstable_items(profile, what="toy")
    assert entry["split"] == "cannot tell" and entry["reliable"] is False
    assert entry["reason"] == ("toy: the 4 models come from 1 pretraining seed, so the variance cannot be split into "
                               "between- and within-seed parts (a split from one seed is not a finding). Add runs with "
                               "other pretraining seeds.")
    row = entry["items"][0]
    assert row["variance"] == pytest.approx(20 / 3)
    assert row["between_var"] is None and row["within_var"] is None and row["share_between"] is None
    assert row["share_ci95"] is None and (row["n_models"], row["n_seeds"]) == (4, 1)
    assert "cannot tell" in unstable_table({"unstable_items": {"toy": entry}}, 5)


def test_one_run_per_seed_cannot_tell():
    entry = unstable.unstable_items(_profile({"a": [1.0, 2.0, 4.0]}, seeds=(0, 1, 2), runs=(0, 0, 0)), what="toy")
    assert entry["split"] == "cannot tell"
    assert entry["reason"] == ("toy: every pretraining seed has one run, so within-seed variance cannot be estimated "
                               "and the variance cannot be split. Add fine-tuning seeds.")


@pytest.mark.bad_input
def test_bad_inputs_have_exact_messages():
    profile = _profile({"a": [1.0, 3.0, 5.0, 7.0]})
    for top in (0, -1, 2.5, True):
        with pytest.raises(UsageError) as err:
            unstable.unstable_items(profile, top=top)
        assert str(err.value) == f"top must be a positive integer, got {top!r}."
    with pytest.raises(UsageError) as err:
        unstable.unstable_items(profile.iloc[:1], what="toy")
    assert str(err.value) == "toy: the unstable items need at least 2 models and 1 item, got 1 model(s) x 1 item(s)."
    with pytest.raises(UsageError) as err:
        unstable.item_variances(_profile({"a": [1.0, np.nan, 5.0, 7.0]}), what="toy")
    assert "toy" in str(err.value) and "'a'" in str(err.value)


@pytest.mark.bad_input
@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_cli_refuses_a_count_that_is_not_a_positive_integer(demo, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["analyze", str(demo), "--unstable-items", value, "--no-write"])
    assert exit_info.value.code == 2
    assert f"--unstable-items must be a positive integer, got '{value}'." in capsys.readouterr().err


def test_demo_family_through_analyze_cli_and_report(demo, capsys):
    assert cli.main(["analyze", str(demo), "--nboot", "50", "--only", "pca", "--unstable-items", "4"]) == 0
    out = capsys.readouterr().out
    analysis = json.loads((demo / "analysis.json").read_text())
    assert analysis["settings"]["unstable_top"] == 4
    for test in available_stress_tests():
        if test not in analysis["unstable_items"]:
            continue
        entry = analysis["unstable_items"][test]
        assert (entry["n_models"], entry["n_seeds"], entry["split"], entry["reliable"]) == (12, 4, "made", True)
        assert len(entry["items"]) == 4 and "occupations" in entry
        triplet = read_predictions(demo / "predictions" / test)
        expected = unstable.item_variances(ITEM_PROFILES[test](triplet))  # the registry's profile, recomputed
        top = expected.sort_values("variance", ascending=False, kind="stable").head(4)
        assert [row["item"] for row in entry["items"]] == list(top.index)
        assert [row["variance"] for row in entry["items"]] == pytest.approx(list(top["variance"]))
        labels = ITEM_LABELS[test](triplet)
        assert ("templates" in entry) == ("template_id" in labels.columns)
        assert f"Most seed-unstable items of {test} (12 models, 4 pretraining seeds)" in out
        assert f"Unstable items {test} (12 models, 4 pretraining seeds" in out
    assert {"sts_gender", "winogender"} <= set(analysis["unstable_items"])
    rows = _unstable_rows(types.SimpleNamespace(analysis=analysis))
    first = rows[0]
    assert (first["kind"], first["rank"]) == ("item", 1) and first["basis"] == "12 models, 4 pretraining seeds"
    assert {row["kind"] for row in rows} == {"item", "template", "occupation"}


def test_one_seed_family_says_cannot_tell_in_analysis_json(tmp_path):
    root = write_demo_family(tmp_path / "one", pretrain_seeds=[0], finetune_seeds=range(3))
    analysis = analyze(root, nboot=50, statements=["unstable_items"], write=False)
    for entry in analysis["unstable_items"].values():
        assert entry["split"] == "cannot tell" and entry["n_seeds"] == 1
        assert entry["reason"].endswith("(a split from one seed is not a finding). Add runs with other pretraining "
                                        "seeds.")
        assert all(row["between_var"] is None for row in entry["items"])
    rows = _unstable_rows(types.SimpleNamespace(analysis=analysis))
    assert rows and all(row["share"] == "cannot tell" for row in rows)
