"""`nlp-underspec select` below a noise floor and over repeated splits: a family whose metric is pure noise is refused
(exit 2) or, when asked, marked "cannot tell"; a planted difference is picked on nearly every split with a narrow rank
interval; the fast per-example halves equal the reader's; everything is deterministic for a seed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nlp_underspec import cli
from nlp_underspec.analysis import selection as sel
from nlp_underspec.analysis import selection_floor as floor
from nlp_underspec.analysis import selection_splits as splits
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.results import scores_frame, write_scores
from nlp_underspec.stress.examples import ExampleSet, mean_absolute_value, pearson_r
from nlp_underspec.triplet import Predictions, write_predictions

MODELS = tuple(f"p{p:02d}-f00" for p in range(8))


def _run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


def _gap_family(folder, gaps: np.ndarray, *, n_templates: int = 8, n_occupations: int = 12, rng: int = 0):
    """An sts_gender family whose member m has gap sim_f - sim_m = gaps[m] + N(0, 0.01) on every pair."""
    occupations = load_occupation_stats().index[:n_occupations].astype(str)
    items = pd.DataFrame([{"item_id": f"t{t}.{o}.{g}", "template_id": t, "occupation": o, "gender": g}
                          for t in range(n_templates) for o in occupations for g in ("female", "male")])
    noise = np.random.default_rng(rng).normal(scale=0.01, size=(len(gaps), n_templates * n_occupations))
    pair = (gaps[:, None] + noise).repeat(2, axis=1)  # one gap per (template, occupation), its two items in a row
    preds = 0.6 + np.where(items["gender"].to_numpy() == "female", 0.5, -0.5) * pair
    models = MODELS[:len(gaps)]
    run_info = pd.DataFrame({"model": models, "pretrain_seed": range(len(models)), "finetune_seed": 0})
    write_predictions(folder / "predictions" / "sts_gender", Predictions(run_info, items, preds))
    rows = [{"model": m, "pretrain_seed": i, "finetune_seed": 0, "test": "stsb", "metric": "dev_pearson",
             "value": 0.80 + 0.01 * i, "occupation": None} for i, m in enumerate(models)]
    write_scores(folder / "scores.parquet", scores_frame(rows))
    return folder


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    """Every member draws the same gap distribution: mean |gap| differs between members by item noise alone."""
    return _gap_family(tmp_path_factory.mktemp("noise"), np.full(8, 0.05))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Gaps 0.02, 0.03, ... 0.09 with pair noise 0.01: p00-f00 is the least biased on any half of the items."""
    return _gap_family(tmp_path_factory.mktemp("planted"), 0.02 + 0.01 * np.arange(8))


# ------------------------------------------------------------------------------------ below the floor
@pytest.mark.bad_input
def test_a_metric_that_is_pure_noise_is_refused_with_its_spread_and_floor(noise, capsys):
    marked = sel.select_member(noise, stress="sts_gender/mean_abs_delta", split="templates", allow_below_floor=True)
    spread = marked["floor"]["spread"]
    assert marked["verdict"] == "cannot tell" and not spread["above"] and spread["p_value"] > 0.05
    code, out, err = _run(["select", str(noise), "--stress", "sts_gender/mean_abs_delta", "--split", "templates"],
                          capsys)
    assert code == 2 and out == ""
    assert err == (f"error: sts_gender/mean_abs_delta: the spread of its 8 members (SD {spread['spread']:.3g}) is not "
                   f"above its noise floor ({spread['floor']:.3g}, the 95th percentile of that SD over 1000 shuffles "
                   "of the members within each pair: what item sampling alone gives; p = "
                   f"{spread['p_value']:.3g}), so the best member on it is noise. Choose another stress metric, score "
                   "more items, or pass --allow-below-floor to get the pick marked \"cannot tell\".")


def test_allow_below_floor_marks_the_pick_cannot_tell_with_its_reason(noise, tmp_path, capsys):
    out = tmp_path / "selection.json"
    code, text, _ = _run(["select", str(noise), "--stress", "sts_gender/mean_abs_delta", "--split", "templates",
                          "--allow-below-floor", "--out", str(out)], capsys)
    result = json.loads(out.read_text())
    assert code == 0 and result["verdict"] == "cannot tell"
    assert result["reason"] == result["floor"]["spread"]["reason"]
    assert result["reason"].startswith("sts_gender/mean_abs_delta: the spread of its 8 members (SD ")
    assert result["selected"] in MODELS  # the pick is still given, marked
    assert "verdict: cannot tell" in text
    # Pure noise: the pick moves from split to split and its confirmation rank is anywhere.
    many = result["repeated_splits"]
    assert many["picks"][0]["share"] < 0.6 and many["confirmation_rank"]["ci95"][1] >= 5


@pytest.mark.bad_input
def test_a_target_floor_is_of_the_distance_to_it(noise, capsys):
    result = sel.select_member(noise, stress="sts_gender/mean_abs_delta", split="templates", target=0.05,
                               allow_below_floor=True)
    assert result["floor"]["spread"]["statistic"] == "SD of |value - 0.05| across members of the metric on all items"
    assert result["reason"].startswith("sts_gender/mean_abs_delta: the spread of its 8 members (SD of |value - 0.05| ")


@pytest.mark.bad_input
def test_members_below_the_magnitude_floor_are_refused_on_a_correlation(tmp_path, capsys):
    folder = write_demo_family(tmp_path / "sat", pretrain_seeds=range(3), finetune_seeds=range(2),
                               saturated=("winogender",))
    code, out, err = _run(["select", str(folder), "--stress", "winogender/bias_r"], capsys)
    assert code == 2 and out == ""
    assert err == ("error: winogender/bias_r: 6 of 6 models are below the noise floor (mean |bias| < 0.0001): a "
                   "correlation of float leftovers, not a finding. Choose another stress metric, score more items, or "
                   "pass --allow-below-floor to get the pick marked \"cannot tell\".")
    marked = sel.select_member(folder, stress="winogender/bias_r", allow_below_floor=True)
    assert marked["verdict"] == "cannot tell" and marked["floor"]["magnitude"]["models_below"] == [
        "p00-f00", "p00-f01", "p01-f00", "p01-f01", "p02-f00", "p02-f01"]
    assert marked["reason"].startswith("winogender/bias_r: 6 of 6 models are below the noise floor")


@pytest.mark.bad_input
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_splits_must_be_a_positive_integer(noise, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["select", str(noise), "--stress", "sts_gender/mean_abs_delta", "--splits", value])
    out = capsys.readouterr()
    assert exit_info.value.code == 2 and out.out == ""
    assert out.err.strip().endswith(f"error: argument --splits: --splits must be a positive integer, got '{value}'.")


@pytest.mark.bad_input
def test_splits_must_be_a_positive_integer_in_python(noise):
    with pytest.raises(UsageError) as err:
        sel.select_member(noise, stress="sts_gender/mean_abs_delta", split="templates", splits=0)
    assert str(err.value) == "splits must be a positive integer, got 0."


# ------------------------------------------------------------------------------------ above the floor
def test_a_planted_difference_is_picked_on_every_split_with_a_narrow_rank(planted):
    result = sel.select_member(planted, stress="sts_gender/mean_abs_delta", split="templates", seed=4)
    spread, many = result["floor"]["spread"], result["repeated_splits"]
    assert result["verdict"] == "selected" and "reason" not in result
    assert spread["above"] and spread["p_value"] == pytest.approx(1 / 1001) and spread["spread"] > 5 * spread["floor"]
    assert result["selected"] == "p00-f00" and result["confirmation_rank"] == 1
    assert many["n_splits"] == 200 and many["n_defined"] == 200 and many["scored_by"] == "examples"
    assert many["picks"] == [{"model": "p00-f00", "share": 1.0}]
    assert many["confirmation_rank"] == {"median": 1.0, "ci95": [1.0, 1.0]} and many["confirmed_best_share"] == 1.0
    assert many["iid_cost"]["median"] == pytest.approx(-0.07) and many["iid_cost"]["ci95"] == pytest.approx(
        [-0.07, -0.07])
    assert many["halves_agreement"]["median"] > 0.9 and many["distinct_splits"] == 70  # C(8, 4)
    assert many["chance"] == {"confirmation_rank_median": 4.5, "confirmed_best_share": 0.125}


def test_a_pick_among_alike_members_is_unstable_though_the_family_differs(tmp_path):
    """Six members alike and two far worse: the family's spread is real, but which of the six is best is noise."""
    folder = _gap_family(tmp_path, np.array([0.05] * 6 + [0.3] * 2))
    result = sel.select_member(folder, stress="sts_gender/mean_abs_delta", split="templates")
    interval = result["repeated_splits"]["confirmation_rank"]["ci95"]
    assert result["floor"]["spread"]["above"] and result["verdict"] == "unstable" and interval[1] > 4.5
    assert result["reason"] == ("sts_gender/mean_abs_delta: the pick does not hold up over the splits: its "
                                f"confirmation rank's 95% interval over 200 splits is [{interval[0]:g}, "
                                f"{interval[1]:g}], reaching past the middle of the 8 members (4.5); the members "
                                "differ on it, but which one is best depends on the items")


def test_the_demo_seed_effect_is_picked_on_most_splits(tmp_path):
    folder = write_demo_family(tmp_path, pretrain_seeds=range(3), finetune_seeds=range(2), seed_effect=2.0,
                               run_noise=0.02)
    result = sel.select_member(folder, stress="winogender/bias_slope", splits=100)
    many = result["repeated_splits"]
    assert result["verdict"] == "selected"
    assert many["picks"][0]["model"] == "p01-f01" and many["picks"][0]["share"] > 0.8
    assert many["confirmation_rank"]["ci95"][1] <= 2 and many["halves_agreement"]["ci95"][0] > 0.5


# ------------------------------------------------------------------------------------ repeated splits: exact, seeded
def test_repeated_splits_are_deterministic_and_keep_the_single_split_first(planted):
    one = sel.select_member(planted, stress="sts_gender/mean_abs_delta", split="templates", seed=2, splits=30)
    again = sel.select_member(planted, stress="sts_gender/mean_abs_delta", split="templates", seed=2, splits=30)
    assert one == again
    orders = splits.split_orders(9, seed=2, splits=30)
    assert (orders[:10] == splits.split_orders(9, seed=2, splits=10)).all()  # more splits keep the first ones
    np.testing.assert_array_equal(orders[0], np.random.default_rng(2).permutation(9))
    assert len({tuple(row) for row in orders}) > 20


def test_fast_halves_equal_the_readers_on_every_split(planted, tmp_path):
    demo = write_demo_family(tmp_path, pretrain_seeds=range(2), finetune_seeds=range(2))
    for folder, stress, split in ((demo, "winogender/bias_r", "occupations"), (demo, "winogender/accuracy",
                                                                              "occupations"),
                                  (planted, "sts_gender/mean_abs_delta", "templates")):
        test, metric = sel.parse_stress(stress)
        _, _, triplet = sel._load(folder, test)
        members = sel.family_members(triplet)
        column, chosen, held = sel.split_units(members, test=test, split=split, seed=0)
        units = sorted(chosen + held)
        examples = type(sel.get_stress_test(test)).triplet_metrics[metric](members, None)
        orders = splits.split_orders(len(units), seed=0, splits=3)
        where = {"test": test, "metric": metric, "split": split, "seed": 0}
        cut = len(units) - len(units) // 2
        mask = np.zeros(orders.shape, dtype=bool)
        np.put_along_axis(mask, orders[:, :cut], True, axis=1)
        exact = sel._reader_split_values(members, units, mask, column=column, where=where, stats=None)
        first = (exact[0][0], exact[1][0])
        fast = sel.split_values(members, examples, units, orders, first, column=column, where=where, stats=None)
        assert fast[2] == "examples", stress
        np.testing.assert_allclose(fast[0], exact[0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fast[1], exact[1], rtol=1e-12, atol=1e-15)


def test_a_split_that_cuts_an_example_is_rescored_by_the_reader(tmp_path):
    """An occupation's delta averages over templates: a template split cannot reuse it, the reader rescores."""
    folder = _gap_family(tmp_path, 0.02 + 0.01 * np.arange(4), n_templates=4)
    result = sel.select_member(folder, stress="sts_gender/mean_delta", split="templates", splits=3,
                               allow_below_floor=True)
    assert result["repeated_splits"]["scored_by"] == "reader"


def test_shuffled_spreads_are_a_null_for_members_alike():
    """Members alike (one distribution per example): the spread is above the floor on about 5% of families."""
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_arrays([[f"m{i}" for i in range(10)], range(10), [0] * 10],
                                      names=["model", "pretrain_seed", "finetune_seed"])
    above = []
    for draw in range(60):
        preds = rng.normal(size=(1, 40)) + rng.normal(size=(10, 40))  # a shared item effect, no member effect
        examples = ExampleSet(preds, np.linspace(0, 1, 40), pearson_r, "occupation", index, pd.RangeIndex(40))
        above.append(floor.spread_floor(examples, examples.scores().to_numpy(), stress="x", seed=draw,
                                        permutations=200)["above"])
    assert sum(above) <= 8  # 5% of 60 is 3; 8 or more has probability < 0.01
    strong = ExampleSet(preds + np.arange(10)[:, None], np.zeros(40), mean_absolute_value, "pair", index,
                        pd.RangeIndex(40))
    assert floor.spread_floor(strong, strong.scores().to_numpy(), stress="x", seed=0)["above"]


def test_the_cli_default_splits_is_the_librarys():
    args = cli.build_parser().parse_args(["select", "runs/x", "--stress", "sts_gender/mean_abs_delta"])
    assert args.splits == sel.DEFAULT_SPLITS and args.allow_below_floor is False
