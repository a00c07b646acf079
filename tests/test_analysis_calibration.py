"""The calibration block of analysis.json on hand-made families: each checkpoint's slope and verdict, the counts and the
spread across seeds, the inheritance statement (exact permutation p-values, few-seed marks, noise floor) and its skips;
and where a user reads them: the family sentence, the analyze table, the evaluate/run table."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from nlp_underspec.analysis import calibration, headline, statements
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.analysis.display import analysis_table
from nlp_underspec.errors import UsageError
from nlp_underspec.evaluation import results_table
from nlp_underspec.results import scores_frame, write_scores
from nlp_underspec.stress import get_stress_test
from nlp_underspec.triplet import Predictions, write_predictions

# Four checkpoints: p00 did not learn the statistic (its interval includes 0), the others did, each interval disjoint.
SLOPES = {0: (0.004, -0.01, 0.02), 1: (0.3, 0.25, 0.35), 2: (0.5, 0.45, 0.55), 3: (0.7, 0.68, 0.72)}
FINETUNE_SEEDS = (0, 1, 2)


def _key(model: str, p: int, f: int | None) -> dict:
    return {"model": model, "pretrain_seed": p, "finetune_seed": f, "occupation": None}


def _checkpoint_rows(p: int, slope: float, low: float, high: float) -> list[dict]:
    key = _key(f"p{p:02d}", p, None)
    values = {"slope": slope, "ci95_low": low, "ci95_high": high, "r": 0.5, "intercept": 0.0,
              "mean_abs_logodds": abs(slope), "learned": float(low > 0), "n_occupations": 60.0}
    return [{**key, "test": "calibration", "metric": m, "value": v} for m, v in values.items()]


def _child_rows(p: int, f: int, bias_slope: float, *, below: bool = False) -> list[dict]:
    key = _key(f"p{p:02d}-f{f:02d}", p, f)
    values = {"bias_slope": bias_slope, "bias_r": 0.1 * p + 0.01 * f, "accuracy": 0.8,
              "mean_abs_bias": 1e-6 if below else 0.05, "noise_floor": 1e-4, "below_noise_floor": float(below)}
    return ([{**key, "test": "winogender", "metric": m, "value": v} for m, v in values.items()]
            + [{**key, "test": "coref", "metric": "dev_accuracy", "value": 0.9}])


def write_family(root: Path, *, slopes=SLOPES, children=None, below: bool = False, reference: str | None = "planted",
                 finetune_seeds=FINETUNE_SEEDS) -> Path:
    """scores.parquet of checkpoints ``slopes`` (seed -> slope, ci low, ci high) and their fine-tuned models, whose
    Winogender bias_slope is ``children[p] + 0.001 f`` (default: twice the parent's slope); with ``reference``, a
    calibration triplet whose label_info names that target."""
    children = children if children is not None else {p: 2 * s[0] for p, s in slopes.items()}
    rows = []
    for p, (slope, low, high) in slopes.items():
        rows += _checkpoint_rows(p, slope, low, high)
        for f in finetune_seeds:
            rows += _child_rows(p, f, children[p] + 0.001 * f, below=below)
    root.mkdir(parents=True, exist_ok=True)
    write_scores(root / "scores.parquet", scores_frame(rows))
    if reference is not None:
        items = get_stress_test("calibration").build_items(source="bls").assign(reference=reference)
        run_info = pd.DataFrame({"model": [f"p{p:02d}" for p in slopes], "pretrain_seed": list(slopes),
                                 "finetune_seed": pd.array([None] * len(slopes), dtype="Int64")})
        write_predictions(root / "predictions" / "calibration",
                          Predictions(run_info, items, np.zeros((len(slopes), len(items)))))
    return root


def _analyze(root: Path, **kwargs) -> dict:
    return statements.analyze(root, nboot=200, statements=("calibration",), write=False, **kwargs)


@pytest.fixture(scope="module")
def inherited(tmp_path_factory):
    """Children whose bias follows their parents' slopes exactly (rho = 1)."""
    return _analyze(write_family(tmp_path_factory.mktemp("inherited")))


# --------------------------------------------------------------------------------------------- the checkpoints
def test_each_checkpoint_its_slope_interval_verdict_and_target(inherited):
    block = inherited["calibration"]
    assert block["checkpoints"]["p00"] == {"pretrain_seed": 0, "slope": 0.004, "ci95": [-0.01, 0.02], "learned": False,
                                           "reference": "planted", "r": 0.5, "intercept": 0.0, "n_occupations": 60}
    assert [name for name, e in block["checkpoints"].items() if e["learned"]] == ["p01", "p02", "p03"]
    assert (block["n_checkpoints"], block["n_learned"]) == (4, 3)
    assert (block["learned"], block["not_learned"]) == (["p01", "p02", "p03"], ["p00"])
    assert block["reference"] == "planted" and block["population"] == "pretrained"
    assert block["slopes"] == {"n": 4, "min": 0.004, "max": 0.7, "mean": pytest.approx(1.504 / 4),
                               "range": pytest.approx(0.696)}


def test_seeds_differ_when_some_pair_of_intervals_is_disjoint(inherited, tmp_path):
    block = inherited["calibration"]
    assert block["seeds_differ"] is True and block["seeds_differ_method"] == calibration.DIFFER_METHOD
    assert block["disjoint_pairs"] == [list(pair) for pair in itertools.combinations(["p00", "p01", "p02", "p03"], 2)]
    overlapping = {p: (0.3 + 0.01 * p, 0.1, 0.5) for p in range(4)}
    block = _analyze(write_family(tmp_path / "overlap", slopes=overlapping))["calibration"]
    assert block["seeds_differ"] is False and block["disjoint_pairs"] == []


def test_a_checkpoint_without_the_flag_is_judged_by_its_interval(tmp_path):
    root = write_family(tmp_path / "old", reference=None)
    scores = pd.read_parquet(root / "scores.parquet")
    write_scores(root / "scores.parquet", scores[scores["metric"] != "learned"].reset_index(drop=True))
    block = _analyze(root)["calibration"]
    assert block["learned"] == ["p01", "p02", "p03"] and block["reference"] is None
    assert block["checkpoints"]["p00"]["reference"] is None


# --------------------------------------------------------------------------------------------------- inheritance
def test_children_that_follow_their_parents_give_rho_one_and_exact_p_one_over_n_factorial(inherited):
    inheritance = inherited["calibration"]["inheritance"]
    assert list(inheritance)[:3] == ["winogender/bias_r", "winogender/bias_slope", "winogender/accuracy"]  # headline
    entry = inheritance["winogender/bias_slope"]
    assert entry["headline"] is True and entry["n_seeds"] == 4 and entry["pretrain_seeds"] == [0, 1, 2, 3]
    assert entry["spearman"] == 1.0 and entry["pearson"] == pytest.approx(1.0)
    assert entry["exact"] is True and entry["n_permutations"] == math.factorial(4) == 24
    assert entry["p_value"] == 1 / 24 and entry["alternative"] == "greater" and entry["min_p"] == 1 / 24
    assert entry["p_two_sided"] == 2 / 24  # the identity and its reversal
    assert entry["finetune_runs"] == {"min": 3, "max": 3}
    assert entry["per_seed"][1] == {"pretrain_seed": 1, "slope": 0.3, "children_mean": pytest.approx(0.601),
                                    "n_children": 3}
    # four seeds: 35 distinct resamples, so the interval is marked; but 1/24 < 0.05, so the p-value gets no note
    assert entry["reliable"] is False and entry["distinct_resamples"] == 35 and "p_note" not in entry
    assert "note" not in entry  # three checkpoints learnt the statistic


def test_children_that_do_not_follow_give_rho_zero_and_the_exact_share_of_orderings(tmp_path):
    # the children's means rank 2, 4, 1, 3 against their parents' 1, 2, 3, 4: sum of d^2 = 10, rho = 0
    children = {0: 0.2, 1: 0.4, 2: 0.1, 3: 0.3}
    entry = _analyze(write_family(tmp_path / "not", children=children))["calibration"]["inheritance"][
        "winogender/bias_slope"]
    assert entry["spearman"] == pytest.approx(0.0, abs=1e-12)
    by_hand = sum(scipy.stats.spearmanr([1, 2, 3, 4], [[2, 4, 1, 3][i] for i in order])[0] >= -1e-12
                  for order in itertools.permutations(range(4)))
    assert by_hand == 13 and entry["p_value"] == 13 / 24 and entry["p_two_sided"] == 1.0


def test_more_seeds_than_can_be_enumerated_use_seeded_random_orderings():
    x = np.arange(9, dtype=float)
    first = calibration.permutation_test(x, 2 * x, nperm=500, rng=3)
    assert first["exact"] is False and first["n_permutations"] == 500
    assert first["p_value"] == 1 / 501 and first["min_p"] == 1 / 501
    y = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 5.5])
    assert calibration.permutation_test(x, y, nperm=500, rng=3) == calibration.permutation_test(x, y, nperm=500, rng=3)


def test_three_seeds_are_marked_they_cannot_reach_p_below_005(tmp_path):
    three = {p: SLOPES[p] for p in range(3)}
    entry = _analyze(write_family(tmp_path / "three", slopes=three))["calibration"]["inheritance"][
        "winogender/bias_slope"]
    assert entry["p_value"] == 1 / 6 and entry["reliable"] is False
    assert entry["p_note"] == ("with 3 pretraining seeds only 6 orderings exist: the smallest attainable p is 0.167, "
                               "so this test cannot reach p < 0.05")


def test_below_the_noise_floor_the_childrens_correlations_are_not_related(tmp_path):
    analysis = _analyze(write_family(tmp_path / "floor", below=True))
    inheritance = analysis["calibration"]["inheritance"]
    reason = ("winogender/bias_r: 12 of 12 models are below the noise floor (mean |bias| < 0.0001): a correlation of "
              "float leftovers, not a finding")
    assert inheritance["winogender/bias_r"] == {"test": "winogender", "metric": "bias_r", "headline": True,
                                                "skipped": reason}
    assert {"statement": "calibration", "subject": "winogender/bias_r vs calibration/slope", "reason": reason} in \
        analysis["skipped"]
    assert inheritance["winogender/bias_slope"]["spearman"] == 1.0  # the magnitude is still related


def test_a_constant_childrens_metric_is_skipped_with_its_reason(inherited):
    assert inherited["calibration"]["inheritance"]["winogender/accuracy"]["skipped"] == (
        "winogender/accuracy (mean over fine-tuning seeds) is 0.8 for every shared run: its rank correlation with "
        "calibration/slope is undefined.")


def test_when_no_checkpoint_learnt_the_statistic_a_correlation_is_said_to_be_chance(tmp_path):
    flat = {p: (0.001 * p, -0.01, 0.02) for p in range(4)}
    inheritance = _analyze(write_family(tmp_path / "flat", slopes=flat))["calibration"]["inheritance"]
    assert inheritance["winogender/bias_slope"]["note"] == calibration.NOTHING_LEARNT


# ---------------------------------------------------------------------------------------------------------- skips
@pytest.mark.bad_input
def test_a_family_without_calibration_scores_skips_the_block_with_its_reason(tmp_path):
    root = write_demo_family(tmp_path / "demo", pretrain_seeds=[0, 1], finetune_seeds=[0, 1], n_templates=1)
    analysis = _analyze(root)
    assert analysis["calibration"] == {"skipped": calibration.NO_CALIBRATION}
    assert {"statement": "calibration", "subject": "calibration", "reason": calibration.NO_CALIBRATION} in \
        analysis["skipped"]
    with pytest.raises(UsageError) as err:
        _analyze(root, strict=("calibration",))
    assert str(err.value) == calibration.NO_CALIBRATION


def test_fewer_than_three_seeds_skip_inheritance_but_keep_the_checkpoints(tmp_path):
    two = {p: SLOPES[p] for p in range(2)}
    analysis = _analyze(write_family(tmp_path / "two", slopes=two), strict=("calibration",))
    reason = ("calibration inheritance needs at least 3 pretraining seeds whose checkpoint has a calibration slope and "
              "fine-tuned descendants, found 2 (0, 1): a rank correlation over fewer says nothing")
    assert analysis["calibration"]["inheritance"] == {"skipped": reason}
    assert analysis["calibration"]["n_checkpoints"] == 2
    assert {"statement": "calibration", "subject": "calibration inheritance", "reason": reason} in analysis["skipped"]


def test_checkpoints_without_fine_tuned_descendants_have_no_inheritance(tmp_path):
    root = write_family(tmp_path / "alone", finetune_seeds=())
    assert _analyze(root)["calibration"]["inheritance"] == {"skipped": calibration.NO_FINETUNED}


# -------------------------------------------------------------------------------------- where a user reads it
def test_the_family_sentence_says_how_many_learnt_the_statistic_and_the_slopes_range(inherited):
    assert headline.calibration_clause(inherited) == ("3 of 4 pretrained checkpoints learnt the planted statistic "
                                                      "(calibration slopes 0.004–0.700)")
    none = {"calibration": {"reference": "bls", "n_checkpoints": 3, "n_learned": 0,
                            "slopes": {"min": 0.0, "max": 0.01}}}
    assert headline.calibration_clause(none) == ("None of the 3 pretrained checkpoints learnt the BLS statistic "
                                                 "(calibration slopes 0.000–0.010)")
    sentence = headline.family_sentence(inherited)
    assert sentence.endswith(". 3 of 4 pretrained checkpoints learnt the planted statistic (calibration slopes "
                             "0.004–0.700).")
    assert headline.calibration_clause({"calibration": {"skipped": calibration.NO_CALIBRATION}}) is None


def test_the_analyze_table_lists_each_checkpoint_and_the_inheritance_rows(inherited):
    table = analysis_table(inherited)
    lines = table.splitlines()
    assert ("Calibration of the 4 pretrained checkpoints (target: planted log-odds): 3 learnt the statistic; slopes "
            "0.004 to 0.7 (mean 0.376); the seeds differ (6 pair(s) of checkpoints with disjoint intervals)") in \
        " ".join(table.split())
    p00, p01 = (next(line for line in lines if line.startswith(name + " ")) for name in ("p00", "p01"))
    assert p00.endswith(calibration.NOT_LEARNT) and p01.endswith("yes") and calibration.NOT_LEARNT not in p01
    slope_row = next(line for line in lines if line.startswith("winogender/bias_slope ") and "orderings" in line)
    assert slope_row.split()[1:4] == ["4", "1", "[1,"] and "0.0417 (exact, 24 orderings)" in slope_row


def test_the_evaluate_table_shows_the_calibration_slope_and_whether_it_was_learnt():
    entries = [{"model": "p00", "tests": {"calibration": {"slope": 0.004, "ci95": [-0.01, 0.02], "r": 0.5,
                                                          "learned": False}}},
               {"model": "p01", "tests": {"calibration": {"slope": 0.3, "ci95": [0.25, 0.35], "r": 0.9,
                                                          "learned": True}}},
               {"model": "p00-f00", "tests": {"winogender": {"bias_r": 0.2, "bias_slope": 0.1, "accuracy": 0.8}}}]
    table = results_table(entries, ["winogender", "calibration"])
    header, _, p00, p01, child, *legend = table.splitlines()
    arrows = {m: info.arrow for m, info in get_stress_test("calibration").metrics.items()}
    assert f"calibration:slope {arrows['slope']}" in header and f"calibration:learned {arrows['learned']}" in header
    assert p00.split()[-5:] == ["0.004", "[-0.010,", "+0.020]", "0.500", "no"]  # a narrow interval gets 3 decimals
    assert p01.split()[-5:] == ["0.300", "[+0.25,", "+0.35]", "0.900", "yes"]
    assert child.split()[-3:] == ["-", "-", "-"]
    assert legend[-1] == get_stress_test("calibration").table_legend


def test_the_demo_family_can_carry_calibrated_checkpoints(tmp_path):
    root = write_demo_family(tmp_path / "demo", pretrain_seeds=[0, 1, 2], finetune_seeds=[0, 1], n_templates=1,
                             tests=("winogender",), calibration={0: 0.0, 1: 0.5, 2: 1.0})
    block = _analyze(root)["calibration"]
    assert block["not_learned"] == ["p00"] and block["learned"] == ["p01", "p02"] and block["reference"] == "bls"
    assert block["checkpoints"]["p02"]["slope"] == pytest.approx(1.0, abs=0.05)
    assert "winogender/bias_slope" in block["inheritance"]


def test_the_run_table_adds_calibration_when_the_sweep_scored_it(tmp_path, capsys):
    from nlp_underspec.commands.run import print_family_table
    from nlp_underspec.results import write_summary

    models = [{"model": "p00", "pretrain_seed": 0, "finetune_seed": None, "kind": "pretrained",
               "tests": {"calibration": {"slope": 0.004, "ci95": [-0.01, 0.02], "r": 0.5, "learned": False}}},
              {"model": "p00-f00", "pretrain_seed": 0, "finetune_seed": 0, "kind": "finetuned",
               "tests": {"winogender": {"bias_r": 0.2, "bias_slope": 0.1, "accuracy": 0.8}}}]
    write_summary(tmp_path / "summary.json", models=models, versions={}, config_hash=None)
    print_family_table(tmp_path, ["winogender"])  # the recipe's tests: calibration is not among them
    header, _, p00, *_ = capsys.readouterr().out.splitlines()
    assert "calibration:slope" in header and "calibration:learned" in header
    assert p00.startswith("p00 (pretrained, mlm_probe)") and p00.split()[-5:] == ["0.004", "[-0.010,", "+0.020]",
                                                                                 "0.500", "no"]
