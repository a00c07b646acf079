"""The audit's checks on hand-made families: numbers of one network per pairing, no statement below a noise floor,
declared iid equivalence (the exact sentence), and seed-resampled intervals marked when a few seeds cannot support
them; through analysis.json, the terminal tables, the report and the cards."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_family import build_family

from nlp_underspec import cards, cli, formatting
from nlp_underspec.analysis import _common, equivalence, headline, noise_floor, statements
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.analysis.display import analysis_table
from nlp_underspec.analysis.registered import paired_task
from nlp_underspec.analysis.variance import seed_share
from nlp_underspec.errors import UsageError
from nlp_underspec.evaluation import BELOW_FLOOR_CELL, BELOW_FLOOR_LEGEND, results_table
from nlp_underspec.report import build_report
from nlp_underspec.cards.stress_facts import BELOW_FLOOR_MODEL
from nlp_underspec.report import page
from nlp_underspec.results import read_scores, scores_frame, write_scores, write_summary
from nlp_underspec.stress.base import StressTest
from nlp_underspec.stress.registry import get_stress_test, register_stress_test, unregister_stress_test

FLOOR_REASON = ("winogender/bias_r: 12 of 12 models are below the noise floor (mean |bias| < 0.0001): a correlation of "
                "float leftovers, not a finding")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """4 pretraining seeds x 3 fine-tuning seeds with stsb and coref runs, and the 4 pretrained checkpoints."""
    root = write_demo_family(tmp_path_factory.mktemp("demo"), pretrained=True)
    return root, statements.analyze(root, nboot=100, write=False)


@pytest.fixture(scope="module")
def saturated(tmp_path_factory):
    """The same family whose coref heads saturate: every fine-tuned Winogender result is below the noise floor."""
    root = write_demo_family(tmp_path_factory.mktemp("saturated"), saturated=("winogender",))
    return root, statements.analyze(root, nboot=100, write=False)


def _pairs(analysis: dict) -> list[tuple[str, str]]:
    return [(p["stress"], p["iid"]) for section in ("spread_ratio", "iid_vs_stress") for p in analysis[section]]


# ------------------------------------------------------------------------------------ one network per pairing
def test_no_stress_metric_is_paired_with_another_networks_iid_metric(demo):
    _, analysis = demo
    pairs = _pairs(analysis)
    assert pairs and {iid.split("/")[0] for _, iid in pairs} == {"stsb", "coref"}
    for stress, iid in pairs:
        test = stress.split("/")[0]
        assert iid.split("/")[0] == paired_task(test), (stress, iid)  # sts_gender-stsb, winogender-coref only
    assert ("winogender/bias_r", "coref/dev_accuracy") in pairs and ("sts_gender/pearson_bls", "stsb/dev_pearson") in pairs
    assert not any(stress.startswith("sts_gender/") and iid.startswith("coref/") for stress, iid in pairs)
    # Winogender accuracy is a stress metric: never an iid metric, so no accuracy-vs-its-own-bias tautology
    assert analysis["metrics"]["winogender/accuracy"]["kind"] == "stress"
    assert not any(iid.startswith("winogender/") for _, iid in pairs)
    assert all(m["kind"] == "iid" for key, m in analysis["metrics"].items() if key.startswith(("stsb/", "coref/")))
    # the checkpoints have no fine-tuning task: nothing to pair, and nothing to say about it
    assert not any(stress.endswith("@pretrained") for stress, _ in pairs)
    assert not any(s["subject"].startswith(("winogender@", "sts_gender@")) for s in analysis["skipped"])


class _Plugin(StressTest):
    """A user's test that names no fine-tuning task (``pairs_with_task`` None)."""

    name = "toy_probe"
    signal_metrics = ("gap_r",)


def test_a_test_without_a_paired_task_pairs_with_nothing_and_says_why(tmp_path):
    write_demo_family(tmp_path, pretrain_seeds=range(2), finetune_seeds=range(2), tests=())
    scores = read_scores(tmp_path)
    models = scores.drop_duplicates("model")[["model", "pretrain_seed", "finetune_seed"]]
    extra = [{**row, "test": "toy_probe", "metric": "gap_r", "value": 0.1 * k, "occupation": None}
             for k, row in enumerate(models.to_dict("records"))]
    write_scores(tmp_path / "scores.parquet", pd.concat([scores, scores_frame(extra)], ignore_index=True))
    register_stress_test(_Plugin)
    try:
        analysis = statements.analyze(tmp_path, nboot=20, write=False)
    finally:
        unregister_stress_test("toy_probe")
    assert not any(stress.startswith("toy_probe/") for stress, _ in _pairs(analysis))
    reason = statements.NO_PAIRED_TASK.format(subject="toy_probe")
    assert reason == ("toy_probe: the stress test names no fine-tuning task whose network it scores (pairs_with_task), "
                      "so none of its metrics is related to an iid metric: that could pair numbers of different "
                      "networks")
    assert [s["statement"] for s in analysis["skipped"] if s["reason"] == reason] == ["spread", "iid_vs_stress"]


def test_an_evaluated_family_has_no_iid_metric_to_pair(tmp_path):
    """`nlp-underspec evaluate` families (no fine-tuning runs) have no dev metrics: nothing is paired."""
    write_demo_family(tmp_path, pretrain_seeds=range(3), finetune_seeds=(), pretrained=True, tests=("winogender",))
    analysis = statements.analyze(tmp_path, nboot=20, write=False)
    assert analysis["spread_ratio"] == [] and analysis["iid_vs_stress"] == []
    assert analysis["iid_equivalence"] == {"skipped": equivalence.NO_IID_METRIC}
    assert headline.family_sentence(analysis).startswith(headline.NO_IID.format(n=3))


@pytest.mark.bad_input
def test_an_analysis_run_without_iid_equivalence_does_not_say_no_iid_metric_was_recorded(tmp_path):
    """`analyze --only calibration` said "No iid metric was recorded for these 9 models" of models whose dev metrics
    were recorded, just not judged under --only."""
    write_demo_family(tmp_path, pretrain_seeds=range(3), finetune_seeds=range(2))
    analysis = statements.analyze(tmp_path, nboot=20, statements=("seed_share",), write=False)
    assert any(m["kind"] == "iid" for m in analysis["metrics"].values())  # recorded
    assert headline.family_sentence(analysis).startswith(
        "iid equivalence, the premise of underspecification, was not checked for these 6 models (this analysis ran "
        "only seed_share)")


# ------------------------------------------------------------------------------------ noise floor
def test_saturated_heads_get_no_correlation_statement_but_keep_their_magnitudes(saturated):
    _, analysis = saturated
    bias_r = analysis["metrics"]["winogender/bias_r"]
    assert noise_floor.ALL_BELOW.format(key="winogender/bias_r", n_below=12, n=12, magnitude="mean |bias|",
                                        floor="0.0001") == FLOOR_REASON
    assert bias_r["below_noise_floor"] == {"n_below": 12, "n_models": 12}
    for statement in ("spread", "seed_share", "multibootstrap"):
        assert bias_r[statement] == {"skipped": FLOOR_REASON}
        assert analysis["metrics"]["winogender/spearman_bias"][statement]["skipped"].startswith(
            "winogender/spearman_bias: 12 of 12 models are below the noise floor")
    assert not any(stress in ("winogender/bias_r", "winogender/spearman_bias") for stress, _ in _pairs(analysis))
    assert {"statement": "iid_vs_stress", "subject": "winogender/bias_r vs coref/dev_accuracy",
            "reason": FLOOR_REASON} in analysis["skipped"]
    for magnitude in ("mean_abs_bias", "bias_slope"):  # what shows the head saturated stays analysed
        entry = analysis["metrics"][f"winogender/{magnitude}"]
        assert entry["spread"]["n"] == 12 and "icc" in entry["seed_share"] and "mean" in entry["multibootstrap"]
    floor = analysis["noise_floor"]["winogender"]
    assert (floor["n_below"], floor["n_models"], floor["floor"], floor["signal_statements"]) == (12, 12, 1e-4, "skipped")
    assert analysis["noise_floor"]["sts_gender"]["signal_statements"] == "made"  # the stsb heads are fine
    assert "note" in analysis["clustering"]["winogender"] and "note" not in analysis["clustering"]["sts_gender"]
    table = analysis_table(analysis)
    assert re.search(r"winogender/bias_r +stress +- +- +below floor +below floor +- +below floor", table)
    assert ("Noise floor winogender: 12 of 12 models below (mean |bias| < 0.0001): bias_r, spearman_bias get no "
            "statement (float leftovers, not findings); the magnitudes are analysed.") in table
    sentence = headline.family_sentence(analysis)
    coref = sentence.split(" The 12 fine-tuned STS-B networks")[0]  # one sentence per network; coref's comes first
    assert coref.endswith("; no share is stated for winogender bias_r (12 of 12 models below the noise floor).")
    assert "of the spread in winogender bias_r" not in sentence


def test_when_some_models_are_below_the_floor_the_family_statement_is_skipped_too(tmp_path):
    write_demo_family(tmp_path, pretrain_seeds=range(3), finetune_seeds=range(3))
    scores = read_scores(tmp_path)
    flag = ((scores["test"] == "winogender") & (scores["metric"] == "below_noise_floor")
            & scores["model"].isin(["p00-f01", "p02-f02"]))
    scores.loc[flag, "value"] = 1.0
    write_scores(tmp_path / "scores.parquet", scores)
    analysis = statements.analyze(tmp_path, nboot=20, write=False)
    assert analysis["metrics"]["winogender/bias_r"]["seed_share"] == {"skipped": (
        "winogender/bias_r: 2 of 9 models are below the noise floor (mean |bias| < 0.0001): their correlations are "
        "float leftovers, and a family statement would mix them with findings (leaving them out would keep only the "
        "more biased networks)")}
    assert analysis["noise_floor"]["winogender"]["models_below"] == ["p00-f01", "p02-f02"]
    assert "icc" in analysis["metrics"]["winogender/bias_slope"]["seed_share"]


def test_scores_without_a_floor_flag_are_analysed_and_said_unchecked(tmp_path):
    write_demo_family(tmp_path, pretrain_seeds=range(2), finetune_seeds=range(2), tests=("winogender",))
    scores = read_scores(tmp_path)
    write_scores(tmp_path / "scores.parquet", scores[scores["metric"] != "below_noise_floor"].reset_index(drop=True))
    analysis = statements.analyze(tmp_path, nboot=20, write=False)
    assert "n" in analysis["metrics"]["winogender/bias_r"]["spread"]
    assert analysis["noise_floor"]["winogender"]["note"] == noise_floor.NOT_RECORDED


def test_report_and_card_say_why_a_saturated_coref_head_has_no_bias_r(tmp_path, tiny_checkpoint):
    root = build_family(tmp_path / "exp", tiny_checkpoint, analysis=False, saturated=True,
                        pretrain_seeds=(0, 1, 2), finetune_seeds=(0, 1))
    statements.analyze(root, nboot=50)
    html = build_report(root).read_text(encoding="utf-8")
    note = page.FLOOR_NOTE.format(key="winogender", n_below=6, n=6, magnitude="mean |bias|", floor="0.0001",
                                  metrics="bias_r and spearman_bias", verb="are", them="them")
    assert note.replace("<", "&lt;") in html
    summary = {m["model"]: m for m in json.loads((root / "summary.json").read_text())["models"]}
    r = summary["p01-f00"]["tests"]["winogender"]["bias_r"]
    assert f"{formatting.fmt_cell(r)} {formatting.BELOW_FLOOR_CELL}" in html  # the glance table marks the number, without a CI
    cards.write_cards(root)
    text = (root / "cards" / "p01-f00-coref" / "README.md").read_text(encoding="utf-8")
    wino = summary["p01-f00"]["tests"]["winogender"]
    assert BELOW_FLOOR_MODEL.format(subject="This checkpoint", metric="bias_r", value=formatting.fmt(r),
                                    magnitude="mean |bias|", amount=formatting.fmt(wino["mean_abs_bias"]),
                                    floor="0.0001") in text
    assert f"This checkpoint scores {formatting.fmt(r)}" not in text and "association in line with" not in text
    assert f"| {formatting.fmt(r)} {formatting.BELOW_FLOOR_CELL} | — |" in text  # no interval, no rank
    assert ("analysis.json did not compute the seed analysis of `winogender/bias_r`: winogender/bias_r: 6 of 6 models "
            "are below the noise floor (mean |bias| < 0.0001): a correlation of float leftovers, not a finding.") in text
    stsb = (root / "cards" / "p01-f00-stsb" / "README.md").read_text(encoding="utf-8")
    assert "This checkpoint scores" in stsb and formatting.BELOW_FLOOR_CELL not in stsb  # the STS network is fine
    family = (root / "cards" / "family" / "README.md").read_text(encoding="utf-8")
    assert ("6 of the family's 6 fine-tuned models are below the test's noise floor (mean |bias| < 0.0001): their "
            "bias_r is a correlation of float leftovers, so no family statement is made on it; read the magnitudes "
            "instead.") in family


def test_the_evaluate_table_marks_a_correlation_below_the_floor():
    tests = {"winogender": {"bias_r": 0.42, "ci95": [0.2, 0.6], "bias_slope": 1e-7, "accuracy": 1.0,
                            "below_noise_floor": True}}
    table = results_table([{"model": "m", "tests": tests}], ["winogender"])
    assert f"+0.420 {BELOW_FLOOR_CELL}" in table and "[+0.20, +0.60]" not in table
    assert table.endswith(BELOW_FLOOR_LEGEND)
    tests["winogender"]["below_noise_floor"] = False
    table = results_table([{"model": "m", "tests": tests}], ["winogender"])
    assert "+0.420 [+0.20, +0.60]" in table and BELOW_FLOOR_LEGEND not in table


def test_an_undefined_score_gets_no_tidy_row():
    """A saturated head's hard predictions are constant: its hard_bias_r is NaN, which scores.parquet cannot hold."""
    rows = get_stress_test("winogender").tidy_rows({"hard_bias_r": float("nan"), "accuracy": 1.0,
                                                    "below_noise_floor": True})
    assert rows == [("accuracy", 1.0), ("below_noise_floor", 1.0)]


# ------------------------------------------------------------------------------------ iid equivalence
def _equivalence_family(root: Path) -> tuple[Path, pd.Series, pd.Series]:
    """3 x 3 fine-tuned pairs: coref dev accuracy 0.998-1.000, STS-B dev Pearson 0.861-0.874; a winogender bias_slope
    set by the pretraining seed, and a bias_r with no seed structure."""
    rows, models = [], []
    bias_r = [0.30, 0.50, 0.10, 0.40, 0.20, 0.35, 0.15, 0.45, 0.25]
    index = []
    for p in range(3):
        for f in range(3):
            k = 3 * p + f
            key = {"model": f"p{p:02d}-f{f:02d}", "pretrain_seed": p, "finetune_seed": f, "occupation": None}
            index.append((p, f))
            values = {("coref", "dev_accuracy"): 0.998 + 0.001 * f, ("stsb", "dev_pearson"): 0.861 + 0.013 * k / 8,
                      ("winogender", "bias_slope"): 0.1 * p + 0.001 * f, ("winogender", "bias_r"): bias_r[k],
                      ("winogender", "below_noise_floor"): 0.0, ("winogender", "noise_floor"): 1e-4}
            rows += [{**key, "test": test, "metric": metric, "value": value} for (test, metric), value in values.items()]
            models.append({"model": key["model"], "pretrain_seed": p, "finetune_seed": f, "kind": "finetuned",
                           "tests": {"winogender": {"bias_r": bias_r[k], "bias_slope": values[("winogender",
                                                                                              "bias_slope")]}},
                           "iid": {"coref": {"dev_accuracy": values[("coref", "dev_accuracy")]},
                                   "stsb": {"dev_pearson": values[("stsb", "dev_pearson")]}}})
    root.mkdir(parents=True, exist_ok=True)
    write_scores(root / "scores.parquet", scores_frame(rows))
    write_summary(root / "summary.json", models=models, versions={}, config_hash=None)
    seeds = pd.MultiIndex.from_tuples(index, names=["pretrain_seed", "finetune_seed"])
    slope = pd.Series([m["tests"]["winogender"]["bias_slope"] for m in models], index=seeds)
    return root, slope, pd.Series(bias_r, index=seeds)


def _share(values: pd.Series) -> str:
    share = seed_share(values)
    low, high = share["icc_ci95"]
    return f"{100 * share['icc']:.0f}% [{100 * low:.0f}%, {100 * high:.0f}%]"


def test_iid_equivalence_inside_and_outside_the_margin_exact_sentence(tmp_path, capsys):
    root, slope, bias_r = _equivalence_family(tmp_path / "family")
    assert seed_share(slope)["icc_ci95"][0] > 0 > seed_share(bias_r)["icc_ci95"][0]
    shares = (f"the pretraining seed explains {_share(slope)} of the spread in winogender bias_slope; for winogender "
              f"bias_r ({_share(bias_r)}) the family cannot tell how much the pretraining seed explains (its ICC "
              "interval spans 0).")
    inside = statements.analyze(root, nboot=50)
    assert inside["iid_equivalence"]["equivalent"] is True
    entry = next(e for e in inside["iid_equivalence"]["metrics"] if e["iid"] == "coref/dev_accuracy")
    assert (entry["min"], entry["max"], entry["margin"], entry["margin_source"], entry["within"]) == (
        0.998, pytest.approx(1.0), 0.01, "default", True)
    expected = ("The 9 fine-tuned coref networks are iid-equivalent (coref dev accuracy 0.998–1.000, within 0.01), yet "
                + shares + " The 9 fine-tuned STS-B networks are iid-equivalent (STS-B dev Pearson 0.861–0.874, within "
                "0.03).")
    assert headline.family_sentence(inside) == expected
    html = build_report(root).read_text(encoding="utf-8")
    assert f'<p class="lead">{expected}</p>' in html  # the report's first section says it

    code = cli.main(["analyze", str(root), "--nboot", "50", "--iid-margin", "coref/dev_accuracy=0.001"])
    out = capsys.readouterr().out
    outside = json.loads((root / "analysis.json").read_text())
    assert code == 0 and outside["iid_equivalence"]["equivalent"] is False
    assert outside["settings"]["iid_margins"]["coref/dev_accuracy"] == 0.001
    expected = ("The 9 fine-tuned coref networks are not iid-equivalent (coref dev accuracy 0.998–1.000, not within "
                "0.001), so their winogender spread is not evidence of underspecification; " + shares
                + " The 9 fine-tuned STS-B networks are iid-equivalent (STS-B dev Pearson 0.861–0.874, within 0.03).")
    assert headline.family_sentence(outside) == expected
    assert " ".join(expected.split()) in " ".join(out.split())  # the terminal says it too (wrapped)
    assert "underspecification" not in expected.replace("not evidence of underspecification", "")


@pytest.mark.bad_input
def test_iid_margin_errors(tmp_path, capsys):
    root, _, _ = _equivalence_family(tmp_path / "family")
    code = cli.main(["analyze", str(root), "--iid-margin", "coref/dev_accuracy"])
    assert (code, capsys.readouterr().err.strip()) == (2, "error: " + equivalence.BAD_MARGIN_SPEC.format(
        spec="coref/dev_accuracy"))
    code = cli.main(["analyze", str(root), "--iid-margin", "coref/dev_acuracy=0.02"])
    assert code == 2 and capsys.readouterr().err.startswith(
        "error: Unknown iid metric 'coref/dev_acuracy'. Did you mean 'coref/dev_accuracy'?")
    with pytest.raises(UsageError) as err:
        statements.analyze(root, iid_margins={"dev_accuracy": -1}, write=False)
    assert str(err.value) == equivalence.BAD_MARGIN.format(key="dev_accuracy", value=-1)
    by_name = statements.analyze(root, nboot=20, statements=("iid_equivalence",), iid_margins={"dev_pearson": 0.001},
                                 write=False)["iid_equivalence"]
    assert [(e["iid"], e["margin_source"], e["within"]) for e in by_name["metrics"]] == [
        ("coref/dev_accuracy", "default", True), ("stsb/dev_pearson", "declared", False)]


# ------------------------------------------------------------------------------------ few seeds
def _seed_resampled(analysis: dict) -> list[dict]:
    entries = [e[s] for e in analysis["metrics"].values() for s in ("spread", "multibootstrap")
               if isinstance(e.get(s), dict) and "resampled" in e[s] and "pretrain_seed" in str(e[s]["resampled"])]
    return entries + analysis["spread_ratio"] + analysis["iid_vs_stress"]


def test_a_three_seed_family_marks_its_seed_resampled_intervals_unreliable(tmp_path, capsys):
    write_demo_family(tmp_path, pretrain_seeds=range(3), finetune_seeds=range(3))
    analysis = statements.analyze(tmp_path, nboot=100, write=False)
    entries = _seed_resampled(analysis)
    assert len(entries) > 40
    note = ("only 10 distinct resamples of 3 pretraining seeds exist: the interval is not trustworthy (it needs at "
            "least 7 pretraining seeds for 1000 or more)")
    for entry in entries:
        assert (entry["n_units"], entry["distinct_resamples"], entry["reliable"], entry["reliability_note"]) == (
            3, 10, False, note)
    share = analysis["metrics"]["winogender/bias_r"]["seed_share"]  # analytic and permutation: unaffected, said so
    assert share["icc_ci95_method"].startswith("F-based (Shrout & Fleiss 1979)") and share["regroup"]["method"] == \
        "permutation"
    assert "reliable" not in share
    table = analysis_table(analysis)
    assert "]*" in table and "* from fewer than 1000 distinct resamples of the seeds" in table
    seven = statements.analyze(write_demo_family(tmp_path / "seven", pretrain_seeds=range(7), finetune_seeds=range(2),
                                                 tests=("winogender",)), nboot=50, write=False)
    assert all(e["distinct_resamples"] == 1716 and e["reliable"] for e in _seed_resampled(seven))
    assert "reliability_note" not in seven["metrics"]["winogender/bias_r"]["spread"]


def test_distinct_resamples_count_multisets():
    """C(2k-1, k): what a bootstrap over k seeds can draw, checked by enumeration."""
    from itertools import combinations_with_replacement

    for k in range(1, 7):
        assert _common.distinct_resamples(k) == len(list(combinations_with_replacement(range(k), k)))


def test_a_comparison_of_three_seed_families_is_marked_too(tmp_path):
    from nlp_underspec.analysis.compare import compare_families
    from nlp_underspec.analysis.display import comparison_table

    base = write_demo_family(tmp_path / "base", pretrain_seeds=range(3), finetune_seeds=range(2), tests=("winogender",))
    expt = write_demo_family(tmp_path / "expt", pretrain_seeds=range(3), finetune_seeds=range(2), tests=("winogender",),
                             mean_strength=0.4, rng=1)
    comparison = compare_families(base, expt, nboot=50, paired=True, metrics=["winogender/bias_r"])
    entry = comparison["comparisons"][0]
    assert (entry["distinct_resamples"], entry["reliable"]) == (10, False)
    assert "* from fewer than 1000 distinct resamples" in comparison_table(comparison)


def test_the_demo_family_shows_the_new_fields(demo):
    root, analysis = demo
    summary = json.loads((root / "summary.json").read_text())
    block = next(m for m in summary["models"] if m["model"] == "p00-f00")
    assert {"bias_slope", "hard_bias_r", "noise_floor", "below_noise_floor"} <= set(block["tests"]["winogender"])
    assert {"delta_slope", "scale", "noise_floor", "below_noise_floor"} <= set(block["tests"]["sts_gender"])
    assert set(block["iid"]) == {"stsb", "coref"}
    assert analysis["iid_equivalence"]["equivalent"] is True  # the default demo is iid-equivalent
    assert "coref/dev_loss" in analysis["iid_equivalence"]["undeclared"]  # no default margin for a loss
    assert not {"winogender/noise_floor", "winogender/below_noise_floor", "sts_gender/scale"} & set(analysis["metrics"])
    assert np.isfinite(read_scores(root)["value"]).all()


@pytest.mark.bad_input
def test_a_per_metric_statement_asked_by_name_skips_the_metrics_it_cannot_be_made_of(tmp_path, tiny_checkpoint):
    """`analyze --only seed_share` on a family with pretrained checkpoints: their numbers have one run per seed by
    construction, so seed_share cannot be made of them; that used to fail the whole command with their reason. It is
    made of the fine-tuned metrics and skipped, with the reason, for the pretrained ones."""
    root = build_family(tmp_path / "exp", tiny_checkpoint, analysis=False, pretrain_seeds=(0, 1, 2),
                        finetune_seeds=(0, 1), calibration={0: 0.5, 1: 0.6, 2: 0.7})
    analysis = statements.analyze(root, nboot=50, statements=("seed_share",), strict=("seed_share",), write=False)
    entries = analysis["metrics"]
    assert "icc" in entries["winogender/accuracy"]["seed_share"]
    assert entries["calibration/slope@pretrained"]["seed_share"] == {"skipped": (
        "calibration/slope@pretrained: within-seed variance needs a pretraining seed with 2 or more runs (fine-tuning "
        "seeds), but every seed has one run. Add fine-tuning seeds, or leave this statement out.")}
    one_run = build_family(tmp_path / "one", tiny_checkpoint, analysis=False, pretrain_seeds=(0, 1),
                           finetune_seeds=(0,))
    with pytest.raises(UsageError) as err:  # made of no metric at all: the first reason, as before
        statements.analyze(one_run, nboot=50, statements=("seed_share",), strict=("seed_share",), write=False)
    assert "within-seed variance needs a pretraining seed with 2 or more runs" in str(err.value)


@pytest.mark.bad_input
def test_an_icc_interval_below_zero_is_no_share_and_no_cannot_tell():
    """Seeds whose means are identical give ICC -1 [-1, -1] (the estimator's floor at two runs a seed): the family
    sentence used to print it as "-100% [-100%, -100%]" under "its ICC interval spans 0", which it does not."""
    entry = {"kind": "stress", "population": "finetuned", "test": "winogender", "metric": "accuracy",
             "seed_share": {"icc": -1.0, "icc_ci95": [-1.0, -1.0]}}
    explained, undecided, none = headline.seed_shares({"metrics": {"winogender/accuracy": entry}})
    assert (explained, undecided, none) == ([], [], ["winogender accuracy (ICC -1.00 [-1.00, -1.00])"])
    entry["seed_share"] = {"icc": -0.2, "icc_ci95": [-0.6, 0.4]}
    assert headline.seed_shares({"metrics": {"winogender/accuracy": entry}})[1] == [
        "winogender accuracy (-20% [-60%, 40%])"]
