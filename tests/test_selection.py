"""`nlp-underspec select`: specification-aware selection on one half of the stress items, confirmed on the other, with
its iid cost; hand-made triplets with known answers, the demo family end to end, the report section, and one clear
error (exit 2) per family or test where a pick cannot be confirmed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nlp_underspec.formatting import fmt_ci_cell, fmt_cell

from nlp_underspec import cli
from nlp_underspec.analysis import selection as sel
from nlp_underspec.analysis.demo import write_demo_family
from nlp_underspec.results import read_scores, scores_frame, write_scores
from nlp_underspec.triplet import Predictions, write_predictions

OCCUPATIONS = ("nurse", "engineer", "teacher", "doctor")
# Hand-made sts_gender family: model m's gap sim_f - sim_m on template t is GAPS[m] * (1 + t / 10), on every
# occupation, so mean |gap| over a set of templates is GAPS[m] * (1 + mean(t) / 10).
GAPS = {"p00-f00": 0.02, "p01-f00": 0.05, "p02-f00": 0.10}
DEV = {"p00-f00": 0.80, "p01-f00": 0.85, "p02-f00": 0.83}


def _run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


def _sts_triplet(n_templates: int, models=tuple(GAPS)) -> Predictions:
    items = pd.DataFrame([{"item_id": f"t{t}.{o}.{g}", "template_id": t, "occupation": o, "gender": g}
                          for t in range(n_templates) for o in OCCUPATIONS for g in ("female", "male")])
    sign = np.where(items["gender"] == "female", 0.5, -0.5)
    scale = 1 + items["template_id"].to_numpy() / 10
    preds = np.array([0.6 + sign * GAPS[m] * scale for m in models])  # (n_models, n_items)
    run_info = pd.DataFrame({"model": list(models), "pretrain_seed": [int(m[1:3]) for m in models],
                             "finetune_seed": [0] * len(models)})
    return Predictions(run_info, items, preds)


def _hand_family(folder, n_templates: int = 4, models=tuple(GAPS)):
    write_predictions(folder / "predictions" / "sts_gender", _sts_triplet(n_templates, models))
    rows = [{"model": m, "pretrain_seed": int(m[1:3]), "finetune_seed": 0, "test": "stsb", "metric": "dev_pearson",
             "value": DEV[m], "occupation": None} for m in models]
    write_scores(folder / "scores.parquet", scores_frame(rows))
    return folder


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_family(tmp_path_factory.mktemp("demo"), pretrain_seeds=range(3), finetune_seeds=range(2))


# ------------------------------------------------------------------------------------ known answers
def test_hand_made_family_selects_the_smallest_gap_and_confirms_it(tmp_path):
    folder = _hand_family(tmp_path)
    result = sel.select_member(folder, stress="sts_gender/mean_abs_delta", split="templates", seed=3)
    chosen = [int(t) for t in result["selection_units"]]
    held = [int(t) for t in result["confirmation_units"]]
    assert sorted(chosen + held) == [0, 1, 2, 3] and len(chosen) == len(held) == 2
    assert result["objective"] == "lowest" and result["target"] is None
    assert result["selected"] == "p00-f00" and result["n_members"] == 3
    assert result["selection_value"] == pytest.approx(0.02 * (1 + np.mean(chosen) / 10))
    assert result["confirmation_value"] == pytest.approx(0.02 * (1 + np.mean(held) / 10))
    assert result["confirmation_rank"] == 1 and result["confirmation_best"] == "p00-f00"
    assert result["iid_cost"] == {"metric": "stsb/dev_pearson", "value": pytest.approx(-0.05), "selected": 0.80,
                                  "best": 0.85, "best_member": "p01-f00", "higher_is_better": True}
    assert [m["model"] for m in result["members"]] == ["p00-f00", "p01-f00", "p02-f00"]


def test_a_target_picks_the_member_closest_to_it(tmp_path):
    folder = _hand_family(tmp_path)
    result = sel.select_member(folder, stress="sts_gender/mean_abs_delta", target=0.06, split="templates")
    assert result["selected"] == "p01-f00" and result["objective"] == "closest to 0.06"
    assert result["iid_cost"]["value"] == 0.0


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    triplet = _sts_triplet(7)
    first = sel.split_units(triplet, test="sts_gender", split="templates", seed=5)
    assert first == sel.split_units(triplet, test="sts_gender", split="templates", seed=5)
    column, chosen, held = first
    assert column == "template_id" and len(chosen) == 4 and len(held) == 3
    assert sorted(chosen + held, key=int) == [str(t) for t in range(7)]
    others = {tuple(sel.split_units(triplet, test="sts_gender", split="templates", seed=s)[1]) for s in range(6)}
    assert len(others) > 1


def test_items_subset_keeps_the_chosen_items_rows_and_columns():
    triplet = _sts_triplet(2)
    half = sel.items_subset(triplet, "occupation", ["doctor", "nurse"])
    assert set(half.label_info["occupation"]) == {"doctor", "nurse"} and half.n_items == 8
    keep = triplet.label_info["occupation"].isin(["doctor", "nurse"]).to_numpy()
    np.testing.assert_array_equal(half.preds, triplet.preds[:, keep])


def test_default_objective_follows_the_metric_direction():
    assert sel.objective("winogender", "bias_r", None) == (0.0, "closest to 0")
    assert sel.objective("winogender", "accuracy", None) == (None, "highest")
    assert sel.objective("winogender", "mean_abs_bias", None) == (None, "lowest")
    assert sel.objective("winogender", "accuracy", 0.5) == (0.5, "closest to 0.5")


# ------------------------------------------------------------------------------------ the demo family, end to end
def test_select_on_the_demo_family_writes_the_documented_keys(demo, tmp_path, capsys):
    out = tmp_path / "selection.json"
    code, text, _ = _run(["select", str(demo), "--stress", "winogender/bias_r", "--target", "0", "--seed", "1",
                          "--out", str(out)], capsys)
    assert code == 0
    result = json.loads(out.read_text())
    for key in ("selected", "selection_value", "confirmation_value", "confirmation_rank", "iid_cost", "n_members",
                "n_selection_units", "n_confirmation_units", "seed", "members"):
        assert key in result
    assert result["n_members"] == 6 and result["n_selection_units"] == result["n_confirmation_units"] == 30
    assert 1 <= result["confirmation_rank"] <= 6 and result["iid_cost"]["metric"] == "coref/dev_accuracy"
    scores = read_scores(demo)
    stored = scores[(scores["model"] == result["selected"]) & (scores["metric"] == "bias_r")
                    & (scores["test"] == "winogender") & scores["occupation"].isna()]["value"].item()
    assert result["all_items_value"] == pytest.approx(stored, abs=1e-9)
    assert f"selected {result['selected']}" in text and "confirmation" in text and f"wrote {out}" in text


def test_the_report_shows_a_selection_json_of_the_run_folder(tmp_path, capsys):
    folder = write_demo_family(tmp_path / "fam", pretrain_seeds=range(2), finetune_seeds=range(2))
    assert _run(["select", str(folder), "--stress", "winogender/bias_r", "--out", str(folder / "selection.json")],
                capsys)[0] == 0
    assert _run(["report", str(folder)], capsys)[0] == 0
    page = (folder / "report" / "index.html").read_text()
    result = json.loads((folder / "selection.json").read_text())
    assert 'id="selection"' in page and f"<strong>{result['selected']}</strong>" in page
    assert f"Verdict: <strong>{result['verdict']}</strong>" in page
    repeated = result["repeated_splits"]
    rank = repeated["confirmation_rank"]
    assert (f"Over {repeated['n_defined']} of {repeated['n_splits']} random splits: picked "
            f"{repeated['picks'][0]['model']} {fmt_cell(repeated['picks'][0]['share'], 2)}") in page
    assert f"confirmation rank {fmt_cell(rank['median'])} {fmt_ci_cell(rank['ci95'])}" in page


@pytest.mark.bad_input
def test_out_replaces_only_an_earlier_selection(demo, tmp_path, capsys):
    other = tmp_path / "notes.json"
    other.write_text('{"mine": 1}')
    code, _, err = _run(["select", str(demo), "--stress", "winogender/bias_r", "--out", str(other)], capsys)
    assert code == 2 and err == (f"error: --out {other} exists and is not a selection written by nlp-underspec "
                                 "select, so it is not replaced. Choose another --out (a new file, or an earlier "
                                 "selection to replace).")
    assert other.read_text() == '{"mine": 1}'


# ------------------------------------------------------------------------------------ refusals, exact messages
def _refusal(argv, capsys) -> str:
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    return err


@pytest.mark.bad_input
def test_one_member_is_refused(tmp_path, capsys):
    folder = _hand_family(tmp_path, models=("p00-f00",))
    assert _refusal(["select", str(folder), "--stress", "sts_gender/mean_abs_delta"], capsys) == (
        f"error: {folder}: predictions/sts_gender holds 1 fine-tuned model(s); selection picks one member of a family "
        "and needs at least 2. Evaluate more seeds of the family first.")


@pytest.mark.bad_input
def test_a_test_without_predictions_is_refused(tmp_path, capsys):
    folder = _hand_family(tmp_path)
    assert _refusal(["select", str(folder), "--stress", "winogender/bias_r"], capsys) == (
        f"error: {folder} has no per-item predictions for winogender (predictions/winogender/ with run_info.tsv, "
        "label_info.tsv, preds.npy), so a pick on one half of the items cannot be confirmed on the other. Score the "
        "family with `nlp-underspec run` or `evaluate`, which write them.")


@pytest.mark.bad_input
def test_a_metric_without_a_subset_reader_is_refused(demo, capsys):
    err = _refusal(["select", str(demo), "--stress", "winogender/hard_bias_r"], capsys)
    assert err == ("error: winogender/hard_bias_r cannot be computed on a subset of the stress items: the test reads "
                   "no per-item score for it from its predictions, so a pick on one half cannot be confirmed on the "
                   "other. Choose one of: winogender/accuracy, winogender/bias_r, winogender/spearman_bias, "
                   "winogender/mean_abs_bias, winogender/bias_slope, winogender/accuracy_female, "
                   "winogender/accuracy_male, winogender/accuracy_neutral, winogender/accuracy_gotcha, "
                   "winogender/accuracy_not_gotcha.")


@pytest.mark.bad_input
def test_unknown_test_and_metric_say_what_was_meant(demo, capsys):
    assert _refusal(["select", str(demo), "--stress", "winogendr/bias_r"], capsys) == (
        "error: Unknown stress test 'winogendr'. Did you mean 'winogender'? Available: calibration, sts_gender, "
        "winogender.")
    assert _refusal(["select", str(demo), "--stress", "sts_gender/pearson"], capsys) == (
        "error: Unknown metric of sts_gender 'pearson'. Did you mean 'pearson_bls'? Available: delta_slope, "
        "frac_large_delta, mean_abs_delta, mean_delta, pearson_bls, spearman_bls.")
    assert _refusal(["select", str(demo), "--stress", "bias_r"], capsys) == (
        "error: --stress takes TEST/METRIC, a registered stress test and one of its metrics (e.g. "
        "sts_gender/pearson_bls); got 'bias_r'.")


@pytest.mark.bad_input
def test_a_split_the_items_do_not_have_is_refused(demo, capsys):
    assert _refusal(["select", str(demo), "--stress", "winogender/bias_r", "--split", "templates"], capsys) == (
        "error: --split templates: predictions/winogender/label_info.tsv has no 'template_id' column, so its items "
        "cannot be split by templates. Use --split occupations.")


@pytest.mark.bad_input
def test_too_few_units_per_half_is_refused(tmp_path, capsys):
    folder = _hand_family(tmp_path, n_templates=3)
    assert _refusal(["select", str(folder), "--stress", "sts_gender/mean_abs_delta", "--split", "templates"],
                    capsys) == (
        "error: --split templates: predictions/sts_gender has 3 templates, so a half would hold fewer than 2 (one "
        "half selects, the other confirms): it needs at least 4. Use another --split or a test with more items.")


@pytest.mark.bad_input
def test_an_unknown_iid_metric_is_refused(tmp_path, capsys):
    folder = _hand_family(tmp_path)
    assert _refusal(["select", str(folder), "--stress", "sts_gender/mean_abs_delta", "--split", "templates",
                     "--iid", "dev_pearsn"], capsys) == (
        "error: Unknown iid metric of task stsb 'dev_pearsn'. Did you mean 'dev_pearson'? Available: dev_pearson.")


@pytest.mark.bad_input
def test_an_undefined_value_on_a_half_is_refused(tmp_path, capsys):
    folder = _hand_family(tmp_path)  # 4 occupations: 2 per half, and a Pearson r of constant deltas is undefined
    err = _refusal(["select", str(folder), "--stress", "sts_gender/pearson_bls"], capsys)
    assert err == ("error: sts_gender/pearson_bls of model 'p00-f00' is undefined on the selection half of the "
                   "occupations (seed 0): too few or constant values there. Try another --seed or --split.")


def test_a_planted_seed_effect_is_picked_and_confirmed(tmp_path):
    """Strong pretraining-seed structure (seed_effect 2, run noise 0.02): the weakest seed's member wins both halves."""
    folder = write_demo_family(tmp_path, pretrain_seeds=range(3), finetune_seeds=range(2), seed_effect=2.0,
                               run_noise=0.02)
    for seed in range(3):
        result = sel.select_member(folder, stress="winogender/bias_slope", seed=seed)
        assert result["selected"] == "p01-f01" and result["confirmation_rank"] == 1


@pytest.mark.bad_input
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_target_must_be_finite(tmp_path, capsys, value):
    folder = _hand_family(tmp_path)
    assert _refusal(["select", str(folder), "--stress", "sts_gender/mean_abs_delta", "--split", "templates",
                     "--target", value], capsys) == f"error: --target must be a finite number, got {float(value)!r}."


@pytest.mark.bad_input
def test_the_read_model_leaves_out_a_selection_json_that_is_not_one(tmp_path, caplog):
    from nlp_underspec.experiment.family import load_family

    folder = write_demo_family(tmp_path / "fam", pretrain_seeds=range(2), finetune_seeds=range(2))
    (folder / "selection.json").write_text('{"selected": "p00-f00"}')
    assert load_family(folder).selection is None
    assert "not a selection of `nlp-underspec select`" in caplog.text
    (folder / "selection.json").write_text("{not json")
    assert load_family(folder).selection is None
