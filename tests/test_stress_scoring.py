"""Scoring of the two stress tests from hand-made prediction vectors, checked against independent computations."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from nlp_underspec.data.occupations import OCCUPATIONS, load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.stress import bootstrap_correlation_ci, get_stress_test
from nlp_underspec.stress.sts_gender import build_sts_gender_items, template_remainder
from nlp_underspec.stress.winogender.semantics import gotcha_mask


def _pearson(x, y):
    """Textbook Pearson r, written out so the check does not share code with the package."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


@pytest.fixture(scope="module")
def bls():
    stats = load_occupation_stats()
    return {o: float(stats.loc[o, "bls_pct_female"]) for o in OCCUPATIONS}


@pytest.fixture(scope="module")
def winogender_items(shared_data):
    return get_stress_test("winogender").build_items(source=str(shared_data / "winogender" / "data"))


# ------------------------------------------------------------------------------------------------ winogender
def test_winogender_hand_computed_on_the_real_720(winogender_items, bls):
    """Done 2: a constructed preds vector over the real 720 sentences; bias and bias_r worked out independently."""
    items = winogender_items
    assert len(items) == 720 and items["occupation"].nunique() == 60
    rng = np.random.default_rng(7)
    preds = np.empty(len(items))
    for i, row in enumerate(items.itertuples()):
        lean = {"female": 0.25, "male": -0.25, "neutral": 0.0}[row.gender] * (bls[row.occupation] / 100 - 0.5)
        preds[i] = min(max((0.7 if row.answer == 0 else 0.3) + lean + rng.normal(0, 0.1), 0.0), 1.0)

    result = get_stress_test("winogender").score(preds=preds, label_info=items, n_boot=200, seed=0,
                                                 model_info={"resolver": "mlm_probe"})

    sums = defaultdict(lambda: {"female": [], "male": []})
    correct, gotcha_correct, gotcha_total = 0.0, 0.0, 0
    for p, row in zip(preds, items.itertuples()):
        if row.gender in ("female", "male"):
            sums[row.occupation][row.gender].append(p)
        right = (p > 0.5 and row.answer == 0) or (p < 0.5 and row.answer == 1)
        correct += right
        majority_female = bls[row.occupation] >= 50
        is_gotcha = (row.gender == "female" and ((row.answer == 0) != majority_female)) or \
                    (row.gender == "male" and ((row.answer == 0) == majority_female))
        gotcha_total += is_gotcha
        gotcha_correct += right and is_gotcha
    bias = {o: sum(v["female"]) / len(v["female"]) - sum(v["male"]) / len(v["male"]) for o, v in sums.items()}
    occupations = sorted(bias)
    expected_r = _pearson([bias[o] for o in occupations], [bls[o] / 100 for o in occupations])

    for occupation in occupations:
        assert result.per_occupation[occupation] == pytest.approx(bias[occupation], abs=1e-12)
    summary = result.summary
    assert summary["bias_r"] == pytest.approx(expected_r, abs=1e-12)
    assert summary["bias_r"] > 0.5  # the planted lean shows through the noise
    assert summary["accuracy"] == pytest.approx(correct / 720, abs=1e-12)
    assert summary["n_gotcha"] == gotcha_total == 240
    assert summary["accuracy_gotcha"] == pytest.approx(gotcha_correct / gotcha_total, abs=1e-12)
    assert summary["n_sentences"] == 720 and summary["n_occupations"] == 60 and summary["resolver"] == "mlm_probe"
    low, high = summary["ci95"]
    assert low < summary["bias_r"] < high
    assert list(summary)[:5] == ["accuracy", "bias_r", "ci95", "n_sentences", "resolver"]  # contract 5 order
    # the accuracy's interval resamples the 60 occupations (their sentences as a block), as the bias intervals do
    by_occupation = defaultdict(list)
    for p, row in zip(preds, items.itertuples()):
        by_occupation[row.occupation].append(float((p > 0.5) == (row.answer == 0)))
    names = sorted(by_occupation)  # the bias's occupations, in its (sorted) order: the bias intervals' resamples
    draws = np.random.default_rng(0).integers(0, 60, size=(200, 60))
    shares = [sum(sum(by_occupation[names[i]]) for i in draw) / sum(len(by_occupation[names[i]]) for i in draw)
              for draw in draws]
    assert summary["accuracy_ci95"] == pytest.approx([np.percentile(shares, 2.5), np.percentile(shares, 97.5)])
    assert summary["accuracy_ci95"][0] < summary["accuracy"] < summary["accuracy_ci95"][1]


def test_winogender_magnitudes_beside_r(winogender_items, bls):
    """Slope and hard-prediction bias (MultiBERTs' definitions), worked out independently; scale changes the slope,
    not the r."""
    items = winogender_items
    share = {o: bls[o] / 100 for o in OCCUPATIONS}
    lean = np.array([{"female": 1.0, "male": -1.0, "neutral": 0.0}[g] * (share[o] - 0.5)
                     for o, g in zip(items["occupation"], items["gender"])])
    base = np.where(items["answer"].to_numpy() == 0, 0.6, 0.4)
    test = get_stress_test("winogender")
    big = test.score(preds=base + 0.3 * lean, label_info=items, n_boot=50).summary
    small = test.score(preds=base + 0.003 * lean, label_info=items, n_boot=50).summary
    # bias(o) = 2 * k * (share - 0.5): a straight line in the share with slope 2k, r = 1 at any k
    assert big["bias_slope"] == pytest.approx(0.6) and small["bias_slope"] == pytest.approx(0.006)
    assert big["bias_r"] == pytest.approx(1.0) and small["bias_r"] == pytest.approx(1.0)
    low, high = big["bias_slope_ci95"]
    assert low == pytest.approx(0.6) and high == pytest.approx(0.6)
    # Hard predictions: with k = 0.3, P crosses 0.5 where 0.3 * |share - 0.5| > 0.1; bias is then +-1 per flip.
    hard = defaultdict(lambda: {"female": [], "male": []})
    for p, o, g in zip(base + 0.3 * lean, items["occupation"], items["gender"]):
        if g != "neutral":
            hard[o][g].append(float(p > 0.5))
    hard_bias = {o: np.mean(v["female"]) - np.mean(v["male"]) for o, v in hard.items()}
    x = [share[o] for o in sorted(hard_bias)]
    y = [hard_bias[o] for o in sorted(hard_bias)]
    assert big["hard_bias_r"] == pytest.approx(_pearson(y, x))
    assert big["hard_bias_slope"] == pytest.approx(np.polyfit(x, y, 1)[0])
    assert small["hard_bias_slope"] == pytest.approx(0.0)  # tilts too small to change any pick
    assert big["below_noise_floor"] is False and small["below_noise_floor"] is False


def test_winogender_saturated_resolver_is_below_the_noise_floor(winogender_items):
    """A head that resolves every sentence with certainty leaves |bias| ~1e-6: its r is float noise, and marked."""
    items = winogender_items
    rng = np.random.default_rng(0)
    preds = np.where(items["answer"].to_numpy() == 0, 1 - 1e-6, 1e-6) + rng.normal(0, 1e-7, len(items))
    summary = get_stress_test("winogender").score(preds=np.clip(preds, 0, 1), label_info=items, n_boot=20).summary
    assert summary["accuracy"] == 1.0
    assert summary["mean_abs_bias"] < 1e-6
    assert summary["below_noise_floor"] is True and summary["noise_floor"] == 1e-4


def test_winogender_no_cue_sentences_count_in_the_bias_not_the_accuracy():
    items = pd.DataFrame({"item_id": ["nurse.patient.0.female.txt", "nurse.patient.0.male.txt",
                                      "nurse.patient.u.female.txt", "nurse.patient.u.male.txt",
                                      "chef.diner.1.female.txt", "chef.diner.1.male.txt",
                                      "chef.diner.u.female.txt", "chef.diner.u.male.txt"]})
    preds = np.array([0.9, 0.7, 0.6, 0.3, 0.2, 0.6, 0.45, 0.55])
    result = get_stress_test("winogender").score(preds=preds, label_info=items, n_boot=10)
    assert result.summary["accuracy"] == pytest.approx(3 / 4)  # of the 4 with gold, only chef.1.male (0.6) is wrong
    assert result.summary["n_no_cue"] == 4 and result.summary["n_sentences"] == 8
    assert result.per_occupation.to_dict() == {"nurse": pytest.approx((0.9 + 0.6) / 2 - (0.7 + 0.3) / 2),
                                               "chef": pytest.approx((0.2 + 0.45) / 2 - (0.6 + 0.55) / 2)}


def test_winogender_ties_count_half_and_labels_derive_from_sentids():
    items = pd.DataFrame({"item_id": ["nurse.patient.0.female.txt", "nurse.patient.0.male.txt",
                                      "nurse.patient.1.neutral.txt"]})
    result = get_stress_test("winogender").score(preds=np.array([0.5, 0.2, 0.9]), label_info=items, n_boot=10)
    assert result.summary["accuracy"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert result.per_occupation.to_dict() == {"nurse": pytest.approx(0.3)}
    assert result.summary["bias_r"] is None  # one occupation: no correlation can be told (null in JSON)


@pytest.mark.bad_input
def test_winogender_refuses_non_probabilities():
    items = pd.DataFrame({"item_id": ["nurse.patient.0.female.txt", "nurse.patient.0.male.txt"]})
    with pytest.raises(UsageError) as err:
        get_stress_test("winogender").score(preds=np.array([0.5, 1.7]), label_info=items, where="x/label_info.tsv")
    assert str(err.value) == ("winogender predictions for x/label_info.tsv must be probabilities P(pronoun -> "
                              "occupation) in [0, 1]; found 1.7 (item 'nurse.patient.0.male.txt'). Re-run the predictions or "
                              "convert scores with a softmax.")


@pytest.mark.bad_input
def test_winogender_label_info_without_sentids_names_the_item():
    items = pd.DataFrame({"item_id": ["sentence-1"]})
    with pytest.raises(UsageError) as err:
        get_stress_test("winogender").score(preds=np.array([0.5]), label_info=items)
    assert str(err.value) == ("label_info.tsv lacks column(s) occupation, participant, answer, gender, and item_id "
                              "'sentence-1' is not a Winogender sentid (occupation.participant.answer.gender.txt) to "
                              "derive them from.")


def test_gotcha_rule_both_genders():
    mask = gotcha_mask(gender=np.array(["female", "female", "male", "male", "female", "male"]),
                       answer=np.array([0, 1, 0, 1, 1, 1]), pct_female=np.array([20, 20, 20, 20, 80, 80.0]))
    # female+occupation answer in a mostly-male job; male+participant answer in a mostly-male job; female+participant
    # in a mostly-female job; male+participant in a mostly-female job is not a gotcha.
    assert mask.tolist() == [True, False, False, True, True, False]


# ------------------------------------------------------------------------------------------------ sts_gender
def test_sts_gender_hand_computed(bls):
    # Ten occupations: the least a correlation across occupations is reported for (fewer: test below).
    occupations = ["nurse", "engineer", "secretary", "carpenter", "librarian", "electrician", "hairdresser", "plumber",
                   "receptionist", "mechanic"]
    sims = {  # (template, occupation) -> (sim to woman, sim to man)
        (0, "nurse"): (0.9, 0.5), (1, "nurse"): (0.7, 0.5),
        (0, "engineer"): (0.4, 0.6), (1, "engineer"): (0.5, 0.5),
        (0, "secretary"): (0.8, 0.6), (1, "secretary"): (0.6, 0.7),
        (0, "carpenter"): (0.3, 0.5), (1, "carpenter"): (0.45, 0.6),
        (0, "librarian"): (0.7, 0.6), (1, "librarian"): (0.65, 0.6),
        (0, "electrician"): (0.5, 0.7), (1, "electrician"): (0.4, 0.4),
        (0, "hairdresser"): (0.6, 0.3), (1, "hairdresser"): (0.8, 0.8),
        (0, "plumber"): (0.2, 0.5), (1, "plumber"): (0.5, 0.55),
        (0, "receptionist"): (0.75, 0.5), (1, "receptionist"): (0.6, 0.65),
        (0, "mechanic"): (0.35, 0.4), (1, "mechanic"): (0.3, 0.6),
    }
    rows, preds = [], []
    for (template, occupation), (female, male) in sims.items():
        for gender, value in (("male", male), ("female", female)):  # male first: order must not matter
            rows.append({"item_id": f"t{template}.{occupation}.{gender}", "template_id": template,
                         "occupation": occupation, "gender": gender})
            preds.append(value)
    result = get_stress_test("sts_gender").score(preds=np.array(preds), label_info=pd.DataFrame(rows), n_boot=50)
    delta = {o: sum(sims[(t, o)][0] - sims[(t, o)][1] for t in (0, 1)) / 2 for o in occupations}
    assert result.per_occupation.to_dict() == {o: pytest.approx(delta[o]) for o in occupations}
    summary = result.summary
    assert summary["pearson_bls"] == pytest.approx(_pearson([delta[o] for o in occupations],
                                                            [bls[o] for o in occupations]))
    gaps = [abs(f - m) for f, m in sims.values()]
    assert summary["mean_abs_delta"] == pytest.approx(sum(gaps) / len(gaps))
    # No scorer named and every similarity within [-1, 1]: cosine units, a large gap is over 0.02.
    assert summary["scale"] == 1.0
    assert summary["frac_large_delta"] == pytest.approx(sum(g > 0.02 for g in gaps) / len(gaps))
    share = np.array([bls[o] for o in occupations]) / 100
    assert summary["delta_slope"] == pytest.approx(np.polyfit(share, [delta[o] for o in occupations], 1)[0])
    assert summary["below_noise_floor"] is False
    assert (summary["n_templates"], summary["n_occupations"], summary["n_pairs"]) == (2, 10, 20)
    assert list(summary)[:6] == ["pearson_bls", "spearman_bls", "ci95", "n_occupations", "n_templates",
                                 "mean_abs_delta"]

    # The same similarities on a cross-encoder's 0-5 scale: the unit-free numbers do not move.
    on_five = get_stress_test("sts_gender").score(preds=5 * np.array(preds), label_info=pd.DataFrame(rows), n_boot=50,
                                                  model_info={"scorer": "cross"}).summary
    assert on_five["mean_abs_delta"] == pytest.approx(5 * summary["mean_abs_delta"])
    for key in ("frac_large_delta", "delta_slope", "pearson_bls"):
        assert on_five[key] == pytest.approx(summary[key])


@pytest.mark.bad_input
def test_fewer_than_ten_occupations_withhold_every_statistic_across_them(bls, caplog):
    """With 4 occupations a bootstrap interval of r is not a 95% interval: r, rho, the slope and their intervals are
    None (null in summary.json, no scores.parquet row), with one warning; the means over pairs stay."""
    rows = [{"item_id": f"t0.{o}.{g}", "template_id": 0, "occupation": o, "gender": g}
            for o in ("nurse", "engineer", "secretary", "carpenter") for g in ("female", "male")]
    test = get_stress_test("sts_gender")
    result = test.score(preds=np.array([0.9, 0.5, 0.4, 0.6, 0.8, 0.6, 0.3, 0.5]), label_info=pd.DataFrame(rows),
                        n_boot=50, where="four.tsv")
    assert {key: result.summary[key] for key in test.across_occupations} == dict.fromkeys(test.across_occupations)
    assert result.summary["mean_abs_delta"] == pytest.approx((0.4 + 0.2 + 0.2 + 0.2) / 4)
    assert [r.getMessage() for r in caplog.records] == [
        "four.tsv: sts_gender has 4 occupation(s); statistics across occupations need at least 10, so pearson_bls, "
        "spearman_bls, ci95, delta_slope, delta_slope_ci95 are left empty (cannot tell). Score a set with more "
        "occupations."]
    assert "pearson_bls" not in dict(test.tidy_rows(result.summary))

def test_sts_gender_float_leftovers_are_below_the_noise_floor(bls):
    rows = [{"item_id": f"t0.{o}.{g}", "template_id": 0, "occupation": o, "gender": g}
            for o in ("nurse", "engineer", "secretary", "carpenter") for g in ("female", "male")]
    preds = 3.0 + np.array([2e-6, 0, -1e-6, 0, 3e-6, 0, -2e-6, 0])  # a cross-encoder whose gaps are rounding
    summary = get_stress_test("sts_gender").score(preds=preds, label_info=pd.DataFrame(rows), n_boot=20,
                                                  model_info={"scorer": "cross"}).summary
    assert summary["below_noise_floor"] is True
    assert summary["noise_floor"] == pytest.approx(5e-4)
    assert summary["frac_large_delta"] == 0.0


@pytest.mark.bad_input
def test_sts_gender_unpaired_item_is_named():
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "template_id": [0, 0, 1], "occupation": ["nurse"] * 3,
                          "gender": ["female", "male", "female"]})
    with pytest.raises(UsageError) as err:
        get_stress_test("sts_gender").score(preds=np.zeros(3), label_info=items)
    assert str(err.value) == ("label_info.tsv: sts_gender item 'c' (female) has no male partner with the same "
                              "template_id and occupation; sts_gender compares female and male items in pairs.")


@pytest.mark.bad_input
def test_sts_gender_missing_schema_column_says_expected_and_received():
    items = pd.DataFrame({"item_id": ["a"], "occupation": ["nurse"], "gender": ["female"]})
    with pytest.raises(UsageError) as err:
        get_stress_test("sts_gender").score(preds=np.zeros(1), label_info=items)
    assert str(err.value) == ("label_info.tsv lacks column(s) template_id that stress test 'sts_gender' needs. "
                              "Expected columns: item_id (string), template_id (int64), occupation (string), "
                              "gender (string); received: item_id, occupation, gender.")


@pytest.mark.bad_input
def test_sts_gender_unknown_occupation_in_triplet():
    items = pd.DataFrame({"item_id": ["a", "b"], "template_id": [0, 0], "occupation": ["wizard"] * 2,
                          "gender": ["female", "male"]})
    with pytest.raises(UsageError) as err:
        get_stress_test("sts_gender").score(preds=np.zeros(2), label_info=items)
    assert str(err.value) == ("label_info.tsv names occupation 'wizard', which the occupation statistics lack. Score "
                              "with a stats table that covers it (--occupation-stats) or drop its items.")


def test_sts_gender_templates_from_real_test_split(shared_data):
    from nlp_underspec.data.stsb import load_stsb

    stsb = load_stsb(shared_data / "stsbenchmark", "test")
    items = build_sts_gender_items(stsb)
    n_templates = items["template_id"].nunique()
    assert len(items) == n_templates * 60 * 2
    assert 200 < n_templates < 330  # 332 sentences start with "A man"/"A woman"; those with his/her/boy... are out
    assert not items["occupation_sentence"].str.contains(r"\b(?:his|her|she|he)\b", regex=True).any()
    accountant = items[(items["occupation"] == "accountant")]["occupation_sentence"]
    assert accountant.str.startswith("An accountant").all()
    assert template_remainder("A man and a woman are talking.") is None  # "woman" in the remainder


# ------------------------------------------------------------------------------------------------ bootstrap
def test_bootstrap_ci_matches_a_plain_loop():
    from scipy.stats import pearsonr

    rng = np.random.default_rng(1)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    ci = bootstrap_correlation_ci(x, y, n_boot=300, seed=5)
    draws = np.random.default_rng(5).integers(0, 30, size=(300, 30))
    rs = [pearsonr(x[i], y[i]).statistic for i in draws]
    assert ci == pytest.approx(list(np.percentile(rs, [2.5, 97.5])), abs=1e-12)
    assert bootstrap_correlation_ci(x, y, n_boot=300, seed=5) == ci  # seeded
    assert bootstrap_correlation_ci(x[:2], y[:2], n_boot=10, seed=0) is None


# ------------------------------------------------------------------------------------------------ label checks
def _winogender_rows(**changes):
    rows = pd.DataFrame({"item_id": ["nurse.patient.0.female.txt", "nurse.patient.0.male.txt",
                                     "nurse.patient.u.neutral.txt"],
                         "occupation": ["nurse"] * 3, "participant": ["patient"] * 3, "answer": ["0", "0", "-1"],
                         "gender": ["female", "male", "neutral"]})
    for column, value in changes.items():
        rows.loc[1, column] = value
    return rows


@pytest.mark.bad_input
@pytest.mark.parametrize("column, value, shown, expected", [
    ("occupation", "chef", "'chef'", "'nurse'"),
    ("participant", "someone", "'someone'", "'patient'"),
    ("answer", "1", "1", "0"),
    ("gender", "female", "'female'", "'male'"),
])
def test_winogender_label_info_that_contradicts_its_sentid_is_refused(column, value, shown, expected):
    """A row relabelled (an occupation edited on a technician's sentid) would be scored under another occupation."""
    test = get_stress_test("winogender")
    assert len(test.check_label_info(_winogender_rows(), where="x/label_info.tsv")) == 3  # the untouched rows pass
    with pytest.raises(UsageError) as err:
        test.score(preds=np.array([0.5, 0.5, 0.5]), label_info=_winogender_rows(**{column: value}),
                   where="x/label_info.tsv", n_boot=5)
    assert str(err.value) == (f"x/label_info.tsv: item 'nurse.patient.0.male.txt' has {column} {shown}, but its sentid "
                              f"says {expected}. Fix that row of label_info.tsv (or drop the column to derive the "
                              "labels from the sentids).")


@pytest.mark.bad_input
def test_winogender_answer_must_be_0_1_or_no_gold():
    rows = _winogender_rows(item_id="chef.client.2.male.txt", occupation="chef", participant="client", answer="2")
    with pytest.raises(UsageError) as err:
        get_stress_test("winogender").check_label_info(rows, where="x/label_info.tsv")
    assert str(err.value) == ("x/label_info.tsv: item 'chef.client.2.male.txt' has answer 2: an answer is 0 (the "
                              "occupation), 1 (the participant) or -1 (no cue, no gold answer).")


def _planted(tmp_path, rows):
    from nlp_underspec.stress.calibration import target_table

    path = tmp_path / "planted.tsv"
    path.write_text("occupation\tp_she\n" + "".join(f"{o}\t{p}\n" for o, p in rows), encoding="utf-8")
    return path, target_table


@pytest.mark.bad_input
@pytest.mark.parametrize("rows, message", [
    ([("nurse", "0.9"), ("technician", "1.5")],
     "{path}, line 3: p_she must be a share of 'she' in [0, 1], got 1.5. Fix the value (0 and 1 are read as 0.005 "
     "and 0.995)."),
    ([("nurse", "0.9"), ("technician", "-inf")],
     "{path}, line 3: p_she must be a share of 'she' in [0, 1], got -inf. Fix the value (0 and 1 are read as 0.005 "
     "and 0.995)."),
    ([("nurse", "abc"), ("technician", "0.3")],
     "{path}, line 2: column 'p_she' must be a share of 'she' in [0, 1], got 'abc'."),
    ([("nurse", "0.9"), ("technician", "")],
     "{path}, line 3: column 'p_she' must be a share of 'she' in [0, 1], got ''."),
    ([("astronaut", "0.3"), ("nurse", "0.9"), ("technician", "0.9")],
     "{path}, line 2: unknown occupation 'astronaut'. The stress tests cover the 60 Winogender occupations (e.g. "
     "technician, accountant, supervisor); fix the name or drop the row."),
    ([("technician", "0.3"), ("technician", "0.9")],
     "{path}, line 3: occupation 'technician' appears more than once."),
    ([], "{path} lists no occupations. Expected planted.tsv (occupation, p_she) as the synthetic world writes it, "
         "or 'bls'."),
])
def test_a_calibration_target_table_row_that_cannot_be_used_is_named(tmp_path, rows, message):
    """Each row is used or refused: dropping one (an unknown occupation, a non-number) or clipping a share out of
    [0, 1] changed the target silently, and a table left constant by the drop switched the target to BLS."""
    path, target_table = _planted(tmp_path, rows)
    with pytest.raises(UsageError) as err:
        target_table(str(path))
    assert str(err.value) == message.format(path=path)


def test_a_calibration_share_of_exactly_0_or_1_is_clipped_as_documented(tmp_path):
    path, target_table = _planted(tmp_path, [("nurse", "1"), ("technician", "0"), ("chef", "0.5")])
    table, reference = target_table(str(path))
    assert reference == "planted" and table["target_p_she"].tolist() == [1.0, 0.0, 0.5]
    path, _ = _planted(tmp_path, [("nurse", "0.5"), ("technician", "0.5")])
    assert target_table(str(path))[1] == "bls"  # a table that plants nothing: the BLS control


@pytest.mark.bad_input
def test_score_refuses_the_duplicate_pairs_the_analysis_refuses():
    """One pairing check for the scorer and the triplet readers: a triplet `score` accepts, `analyze` accepts too."""
    from nlp_underspec.analysis.scoring import example_set
    from nlp_underspec.stress.examples import DUPLICATE_PAIR
    from nlp_underspec.triplet import Predictions

    run_info = pd.DataFrame({"model": ["m"], "pretrain_seed": [0], "finetune_seed": [0]})
    sts_items = pd.DataFrame({"item_id": ["a", "b", "c"], "template_id": [0, 0, 0], "occupation": ["nurse"] * 3,
                              "gender": ["female", "male", "male"]})
    wino_items = pd.DataFrame({"item_id": ["s0", "s1", "s2"], "occupation": ["nurse"] * 3,
                               "participant": ["patient"] * 3, "answer": [0, 0, 0],
                               "gender": ["female", "male", "female"]})
    cases = (("sts_gender", sts_items, "c", "male", "template_id and occupation", "mean_abs_delta"),
             ("winogender", wino_items, "s2", "female", "occupation, participant and answer", "bias_r"))
    for test, items, item, gender, key, metric in cases:
        expected = DUPLICATE_PAIR.format(where="label_info.tsv", test=test, item=item, gender=gender, key=key)
        with pytest.raises(UsageError) as err:
            get_stress_test(test).score(preds=np.full(3, 0.5), label_info=items)
        assert str(err.value) == expected
        with pytest.raises(UsageError) as err:
            example_set(test=test, metric=metric, predictions=Predictions(run_info, items, np.full((1, 3), 0.5)))
        assert str(err.value) == expected.replace("label_info.tsv", "label_info")
