"""Multi-Bootstrap: identical samples to a plain per-iteration loop of the published algorithm, report_ci, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nlp_underspec.analysis import bootstrap as mb
from nlp_underspec.analysis import family_bootstrap, multibootstrap, report_ci
from nlp_underspec.analysis import batched
from nlp_underspec.analysis.batched import batched_score
from nlp_underspec.analysis._common import BAD_LEVEL, BAD_RNG, NAN_VALUES
from nlp_underspec.errors import UsageError
from nlp_underspec.stress import accuracy, mean_squared_error, pearson_r, spearman_r
from nlp_underspec.stress.winogender.triplet_metrics import winogender_accuracy


# ------------------------------------------------------------------------------------ the reference, as a plain loop
def reference_multibootstrap(run_info, preds, labels, score_fn, paired_seeds=False, sample_seeds=True,
                             sample_examples=True, nboot=500, rng=None):
    """The algorithm of Sellam et al. (2022) written as directly as possible: every run re-scored at every iteration."""
    run_info = run_info.reset_index(drop=True)
    is_expt = run_info["intervention"]
    base_rows = run_info[~is_expt].groupby("seed").groups
    expt_rows = run_info[is_expt].groupby("seed").groups
    if isinstance(rng, int):
        rng = np.random.RandomState(rng)
    if paired_seeds:
        base_seeds = expt_seeds = list(set(base_rows.keys()).intersection(expt_rows.keys()))
    else:
        base_seeds, expt_seeds = sorted(base_rows.keys()), sorted(expt_rows.keys())
    n = len(labels)
    samples = []
    for _ in range(nboot):
        base_sample, expt_sample = base_seeds, expt_seeds
        if sample_seeds:
            base_sample = rng.choice(base_seeds, size=len(base_seeds), replace=True)
            expt_sample = base_sample if paired_seeds else rng.choice(expt_seeds, size=len(expt_seeds), replace=True)
        columns = rng.choice(n, size=n, replace=True) if sample_examples else np.arange(n)
        samples.append((_arm_score(base_rows, base_sample, score_fn, labels, preds, columns),
                        _arm_score(expt_rows, expt_sample, score_fn, labels, preds, columns)))
    return samples


def _arm_score(rows_of_seed, seeds, score_fn, labels, preds, columns):
    """Mean over the sampled seeds of the mean over each seed's runs of the run's score on the sampled examples."""
    per_seed = []
    for seed in seeds:
        per_seed.append(np.mean([score_fn(labels[columns], preds[i, columns]) for i in rows_of_seed[seed]]))
    return np.mean(per_seed)


def _family(n_seeds=6, runs=(3, 2), n_examples=40, *, seed=0, shift=0.05, unequal=False, extra_base_seed=False):
    """Baseline and intervention runs over shared examples; with ``unequal`` seeds hold different numbers of runs."""
    rng = np.random.default_rng(seed)
    rows = []
    for intervention, per_seed in zip((False, True), runs):
        for s in range(n_seeds):
            count = per_seed + (s % 2 if unequal else 0)
            rows += [{"seed": s, "intervention": intervention}] * count
    if extra_base_seed:
        rows += [{"seed": 99, "intervention": False}] * 2
    run_info = pd.DataFrame(rows)
    labels = rng.integers(0, 2, size=n_examples)
    skill = 0.7 + shift * run_info["intervention"].to_numpy()[:, None] + rng.normal(scale=0.05, size=(len(rows), 1))
    correct = rng.random((len(rows), n_examples)) < skill  # (n_runs, n_examples)
    preds = np.where(correct, labels, 1 - labels)
    order = rng.permutation(len(rows))  # runs of a seed are not adjacent, as in a real run_info
    return run_info.iloc[order].reset_index(drop=True), preds[order], labels


MODES = [(paired, seeds, examples) for paired in (False, True) for seeds in (True, False) for examples in (True, False)]


@pytest.mark.parametrize("paired,sample_seeds,sample_examples", MODES)
def test_accuracy_samples_identical_to_reference(paired, sample_seeds, sample_examples):
    run_info, preds, labels = _family(unequal=True, extra_base_seed=True)
    kwargs = {"paired_seeds": paired, "sample_seeds": sample_seeds, "sample_examples": sample_examples, "nboot": 60}
    ours = multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=accuracy, rng=42, **kwargs)
    reference = reference_multibootstrap(run_info, preds, labels, accuracy, rng=42, **kwargs)
    assert ours == [tuple(pair) for pair in reference]  # exact, not approximately


@pytest.mark.parametrize("score_fn", [mean_squared_error, pearson_r, spearman_r, winogender_accuracy],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("paired", [False, True])
def test_vectorized_scores_identical_to_reference(score_fn, paired):
    rng = np.random.default_rng(3)
    run_info, _, _ = _family(n_seeds=5, runs=(2, 3), unequal=True)
    preds = rng.normal(size=(len(run_info), 60))  # (n_runs, n_examples), e.g. per-occupation bias
    labels = rng.random(60)
    if score_fn is winogender_accuracy:
        preds = rng.choice([0.0, 0.5, 1.0], size=preds.shape)  # picked answers, 0.5 = tie
        labels = rng.integers(0, 2, size=60).astype(float)
    ours = multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=score_fn, paired_seeds=paired,
                          nboot=40, rng=7)
    reference = reference_multibootstrap(run_info, preds, labels, score_fn, paired_seeds=paired, nboot=40, rng=7)
    assert ours == [tuple(pair) for pair in reference]


def test_any_other_score_fn_goes_through_the_loop_identically():
    run_info, preds, labels = _family(n_seeds=4)

    def balanced_error(y_true, y_pred):  # a plain function: no fast path
        return float(np.mean([np.mean(y_pred[y_true == k] != k) for k in (0, 1)]))

    ours = multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=balanced_error, nboot=30, rng=5)
    assert ours == [tuple(p) for p in reference_multibootstrap(run_info, preds, labels, balanced_error, nboot=30, rng=5)]


@pytest.mark.parametrize("make_rng", [np.random.default_rng, np.random.RandomState], ids=["Generator", "RandomState"])
def test_generator_and_randomstate_follow_the_same_stream(make_rng):
    run_info, preds, labels = _family(n_seeds=4)
    ours = multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=accuracy, nboot=25, rng=make_rng(11))
    reference = reference_multibootstrap(run_info, preds, labels, accuracy, nboot=25, rng=make_rng(11))
    assert ours == [tuple(p) for p in reference]


def test_large_seed_values_keep_the_reference_order_in_paired_mode():
    # Seeds beyond the set's table size exercise CPython's set ordering, which the paired draw depends on.
    run_info, preds, labels = _family(n_seeds=6)
    run_info["seed"] = run_info["seed"].map({0: 1000, 1: 7, 2: 64, 3: 33, 4: 2**20, 5: 15})
    ours = multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=accuracy, paired_seeds=True,
                          nboot=30, rng=3)
    reference = reference_multibootstrap(run_info, preds, labels, accuracy, paired_seeds=True, nboot=30, rng=3)
    assert ours == [tuple(p) for p in reference]


def test_planted_improvement_is_detected():
    run_info, preds, labels = _family(n_seeds=8, n_examples=400, shift=0.1)
    result = report_ci(multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=accuracy, nboot=300,
                                      rng=0))
    assert result["delta"]["low"] > 0 and result["delta"]["p"] == pytest.approx(1 / 300)


def test_family_bootstrap_matches_a_baseline_only_loop():
    run_info, preds, labels = _family(n_seeds=5)
    base = run_info["intervention"].to_numpy() == False
    ours = family_bootstrap(run_info=run_info[base].reset_index(drop=True), preds=preds[base], labels=labels,
                            score_fn=accuracy, nboot=50, rng=9)
    rng, seeds = np.random.RandomState(9), sorted(run_info.loc[base, "seed"].unique())
    rows = run_info[base].reset_index(drop=True).groupby("seed").groups
    expected = []
    for _ in range(50):
        sample = rng.choice(seeds, size=len(seeds), replace=True)
        columns = rng.choice(len(labels), size=len(labels), replace=True)
        expected.append(np.mean([np.mean([accuracy(labels[columns], preds[base][i, columns]) for i in rows[s]])
                                 for s in sample]))
    assert ours.tolist() == expected


# ------------------------------------------------------------------------------------ report_ci
def test_report_ci_hand_computed():
    samples = [(0.50, 0.55), (0.52, 0.56), (0.49, 0.57), (0.51, 0.50), (0.50, 0.60)]
    result = report_ci(samples, c=0.5, abs_threshold=0.03, rel_threshold=0.1)
    deltas = np.array([0.05, 0.04, 0.08, -0.01, 0.10])
    assert result["base"]["mean"] == pytest.approx(0.504)
    assert result["delta"]["mean"] == pytest.approx(deltas.mean())
    assert result["delta"]["low"] == pytest.approx(np.quantile(deltas, 0.25))
    assert result["delta"]["high"] == pytest.approx(np.quantile(deltas, 0.75))
    assert result["delta"]["p"] == pytest.approx(0.2)  # one delta of five is <= 0
    assert result["abs_threshold"] == {"threshold": 0.03, "share": pytest.approx(0.8)}
    assert result["rel_threshold"]["share"] == pytest.approx(0.6)  # relative deltas .1, .077, .163, -.02, .2


def test_report_ci_p_value_floor_and_negative_effect():
    samples = [(0.5, 0.4 - k / 100) for k in range(10)]
    assert report_ci(samples)["delta"]["p"] == 1.0
    result = report_ci(samples, expect_negative_effect=True, abs_threshold=0.15)
    assert result["delta"]["p"] == pytest.approx(0.1)  # floored at 1/nboot: no delta is >= 0
    assert result["abs_threshold"]["share"] == pytest.approx(0.4)  # deltas <= -0.15: k = 6..9


def test_report_ci_accepts_a_frame():
    frame = pd.DataFrame({"base": [0.1, 0.2], "expt": [0.3, 0.1]})
    assert report_ci(frame)["expt"]["mean"] == pytest.approx(0.2)


# ------------------------------------------------------------------------------------ bad input
def _bad(**overrides):
    run_info, preds, labels = _family(n_seeds=3)
    kwargs = {"run_info": run_info, "preds": preds, "labels": labels, "score_fn": accuracy, "nboot": 5, "rng": 0}
    kwargs.update(overrides)
    with pytest.raises(UsageError) as err:
        multibootstrap(**kwargs)
    return str(err.value)


@pytest.mark.bad_input
def test_missing_seed_column():
    run_info, _, _ = _family(n_seeds=3)
    assert _bad(run_info=run_info.drop(columns="seed")) == mb.MISSING_RUN_COLUMN.format(
        column="seed", found="intervention", hint=mb.SEED_HINT)


@pytest.mark.bad_input
def test_missing_intervention_column():
    run_info, _, _ = _family(n_seeds=3)
    assert _bad(run_info=run_info.drop(columns="intervention")) == mb.MISSING_RUN_COLUMN.format(
        column="intervention", found="seed", hint=mb.INTERVENTION_HINT)


def test_mismatched_shapes():
    run_info, preds, labels = _family(n_seeds=3)
    assert _bad(preds=preds[:-1]) == mb.RUNS_MISMATCH.format(n_rows=len(preds) - 1, n_runs=len(run_info))
    assert _bad(labels=labels[:-2]) == mb.LABELS_MISMATCH.format(n_labels=len(labels) - 2, n_examples=len(labels))
    assert _bad(preds=preds[0]) == mb.PREDS_NOT_2D.format(shape=(len(labels),))


@pytest.mark.bad_input
def test_nan_predictions():
    _, preds, _ = _family(n_seeds=3)
    preds = preds.astype(float)
    preds[2, 5] = np.nan
    assert _bad(preds=preds) == NAN_VALUES.format(what="preds", count=1, first="run 2, example 5")


@pytest.mark.bad_input
def test_nan_score_names_the_run():
    _, preds, labels = _family(n_seeds=3)
    values = np.random.default_rng(0).normal(size=preds.shape)
    values[4] = 1.0  # a constant run: its correlation is undefined
    message = _bad(preds=values, labels=labels.astype(float), score_fn=pearson_r)
    assert message == mb.NAN_SCORE.format(run="row 4", sample=0)


def test_empty_seed_intersection_in_paired_mode():
    run_info, _, _ = _family(n_seeds=3)
    run_info.loc[run_info["intervention"], "seed"] += 10
    assert _bad(run_info=run_info, paired_seeds=True) == mb.NO_COMMON_SEEDS.format(base="0, 1, 2", expt="10, 11, 12")


@pytest.mark.bad_input
def test_missing_seed_value_and_empty_arm_and_bad_flags():
    run_info, _, _ = _family(n_seeds=3)
    with_gap = run_info.astype({"seed": float})
    with_gap.loc[3, "seed"] = np.nan
    assert _bad(run_info=with_gap) == mb.MISSING_SEED.format(row=3)
    assert _bad(run_info=run_info.assign(intervention=False)) == mb.EMPTY_ARM.format(arm="intervention", flag=True)
    assert _bad(run_info=run_info.assign(intervention="yes")) == mb.BAD_INTERVENTION.format(value="yes", row=0)


@pytest.mark.bad_input
def test_bad_rng_nboot_level_and_samples():
    assert _bad(rng=None) == BAD_RNG.format(kind="NoneType")
    assert _bad(nboot=0) == "nboot must be a positive integer, got 0."
    with pytest.raises(UsageError) as err:
        report_ci([(0.1, 0.2)], c=95)
    assert str(err.value) == "c must be a confidence level strictly between 0 and 1 (e.g. 0.95), got 95."
    with pytest.raises(UsageError) as err:
        report_ci([(0.1, 0.2)], rel_threshold=float("nan"))  # compared false with every delta: a share of 0
    assert str(err.value) == "rel_threshold must be a finite number, got nan."
    with pytest.raises(UsageError) as err:
        report_ci([])
    assert str(err.value) == mb.SAMPLES_SHAPE.format(what="shape (0,)")


# ------------------------------------------------------------------------------------ a user's own score function
def _accuracy_rows(y_true, y_pred):  # a plain numpy function that reduces along the last axis: detected as batched
    return np.mean(y_true == y_pred, axis=-1)


def _pearson_rows(y_true, y_pred):  # a user's Pearson r, written with numpy along the last axis
    x = y_true - np.mean(y_true, axis=-1, keepdims=True)
    y = y_pred - np.mean(y_pred, axis=-1, keepdims=True)
    return np.sum(x * y, axis=-1) / np.sqrt(np.sum(x * x, axis=-1) * np.sum(y * y, axis=-1))


def _scalar_accuracy(y_true, y_pred):  # one number for any input: cannot be batched, scored row by row
    return float(np.mean(y_true == y_pred))


@pytest.mark.parametrize("declared", [False, True], ids=["detected", "declared"])
@pytest.mark.parametrize("score_fn", [_accuracy_rows, _pearson_rows], ids=lambda f: f.__name__)
def test_batched_user_function_identical_to_reference(score_fn, declared):
    rng = np.random.default_rng(4)
    run_info, preds, labels = _family(n_seeds=5, runs=(2, 3), unequal=True, n_examples=50)
    if score_fn is _pearson_rows:
        preds, labels = rng.normal(size=preds.shape), rng.random(50)  # floats: exact only if each row sums alone
    fn = batched_score(score_fn) if declared else score_fn
    for paired in (False, True):
        ours = multibootstrap(run_info, preds, labels, fn, paired_seeds=paired, nboot=70, rng=13)
        reference = reference_multibootstrap(run_info, preds, labels, score_fn, paired_seeds=paired, nboot=70, rng=13)
        assert ours == [tuple(pair) for pair in reference]  # bit for bit


def test_stacked_call_equals_one_call_per_row():
    rng = np.random.default_rng(5)
    preds, labels = rng.normal(size=(7, 33)), rng.normal(size=33)
    draws = rng.integers(0, 33, size=(300, 33))  # more iterations than one stacked block of the probe
    stacked = batched.batched_score_runs(_pearson_rows, preds, labels, draws)
    assert batched.passes_probe(_pearson_rows, preds, labels, draws)
    assert stacked.tobytes() == batched.loop_score_runs(_pearson_rows, preds, labels, draws).tobytes()
    threaded = batched.batched_score_runs(_pearson_rows, preds, labels, draws, threads=3)  # runs split over threads
    assert threaded.tobytes() == stacked.tobytes()


def test_a_batched_mean_of_integers_is_summed_over_counts_and_anything_else_is_not():
    rng = np.random.default_rng(6)
    preds, labels = rng.integers(0, 3, size=(5, 30)), rng.integers(0, 3, size=30)
    draws = rng.integers(0, 30, size=(20, 30))
    values = batched.mean_form_values(_accuracy_rows, preds, labels, draws)
    assert values.tolist() == (preds == labels).astype(float).tolist()  # one per-example value per run and example

    def squared_accuracy(y_true, y_pred):  # 0/1 on one example, like a mean, but not a mean of a resample
        return np.mean(y_true == y_pred, axis=-1) ** 2

    assert batched.mean_form_values(squared_accuracy, preds, labels, draws) is None
    assert batched.mean_form_values(_pearson_rows, preds, labels, draws) is None  # NaN on one example
    run_info, fam_preds, fam_labels = _family(n_seeds=4)
    ours = multibootstrap(run_info, fam_preds, fam_labels, squared_accuracy, nboot=30, rng=1)  # stacked calls instead
    assert ours == [tuple(p) for p in reference_multibootstrap(run_info, fam_preds, fam_labels, squared_accuracy,
                                                               nboot=30, rng=1)]


def test_a_scalar_function_is_not_taken_for_batched():
    run_info, preds, labels = _family(n_seeds=3)
    draws = np.random.default_rng(0).integers(0, preds.shape[1], size=(10, preds.shape[1]))
    assert not batched.passes_probe(_scalar_accuracy, preds, labels, draws)
    ours = multibootstrap(run_info, preds, labels, lambda y, p: float(np.mean(y == p)), nboot=20, rng=2)
    assert ours == [tuple(p) for p in reference_multibootstrap(run_info, preds, labels, _scalar_accuracy, nboot=20,
                                                               rng=2)]


def test_the_reference_positional_call():
    run_info, preds, labels = _family(n_seeds=4)
    positional = multibootstrap(run_info, preds, labels, accuracy, True, 40, 42)
    keywords = multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=accuracy, paired_seeds=True,
                              nboot=40, rng=42, verbose=False)
    assert positional == keywords == [tuple(p) for p in reference_multibootstrap(
        run_info, preds, labels, accuracy, paired_seeds=True, nboot=40, rng=42)]


def test_process_pool_gives_the_serial_numbers():
    run_info, preds, labels = _family(n_seeds=4)
    serial = multibootstrap(run_info, preds, labels, _scalar_accuracy, nboot=24, rng=8)
    pooled = multibootstrap(run_info, preds, labels, _scalar_accuracy, nboot=24, rng=8, workers=2)
    assert pooled == serial


@pytest.mark.bad_input
def test_declared_batched_function_with_a_scalar_result():
    run_info, preds, labels = _family(n_seeds=3, n_examples=40)
    with pytest.raises(UsageError) as err:
        multibootstrap(run_info, preds, labels, batched_score(_scalar_accuracy), nboot=5, rng=0)
    # The first stacked call scores the first seed's runs on the 4 of the 5 iterations that drew that seed (a run is
    # scored only where its score enters the sample).
    assert str(err.value) == (
        "score_fn '_scalar_accuracy' is declared batched, so a call on stacked arrays y_true and y_pred of shape "
        "[4, 40] must return 4 scores (shape (4,)), got a float. Reduce along the last axis "
        "(e.g. np.mean(y_true == y_pred, axis=-1)), or drop the batched declaration to score one row at a time.")


@pytest.mark.bad_input
def test_declared_batched_attribute_with_a_wrong_shape():
    def summed(y_true, y_pred):
        return np.mean(y_true == y_pred, axis=0)  # along the wrong axis: one value per example

    summed.batched = True
    message = _bad(score_fn=summed)  # 4 rows: the iterations that drew the first seed (as above)
    assert message == batched.BATCHED_SHAPE.format(name="'summed'", rows=4, n=40, got="shape (40,)")


@pytest.mark.bad_input
def test_workers_and_rng_and_unpicklable_functions():
    assert _bad(workers=0) == batched.BAD_WORKERS.format(value=0)
    run_info, preds, labels = _family(n_seeds=3)
    with pytest.raises(UsageError) as err:
        multibootstrap(run_info, preds, labels, accuracy)
    assert str(err.value) == mb.MISSING_RNG
    message = _bad(score_fn=lambda y, p: float(np.mean(y == p)), workers=2)
    assert message.startswith("score_fn '<lambda>' cannot be sent to worker processes (workers=2): ")
    assert message.endswith(". Define it with def at module level, make it batched "
                            "(nlp_underspec.analysis.batched_score), or use workers=1.")


def _expected_calls_paired(run_info, n_examples, *, nboot, rng):
    """Calls a user's function needs in a paired bootstrap: per iteration, the runs of every distinct seed drawn."""
    seeds = sorted(run_info["seed"].unique())
    runs_per_seed = run_info.groupby("seed").size()
    state, total = np.random.RandomState(rng), 0
    for _ in range(nboot):
        drawn = state.randint(0, len(seeds), size=len(seeds))  # the shared seed draw, then the examples' draw
        state.randint(0, n_examples, size=n_examples)
        total += int(sum(runs_per_seed[seeds[k]] for k in np.unique(drawn)))
    return total


@pytest.mark.parametrize("form", ["scalar", "batched"])
def test_a_user_function_scores_only_the_runs_of_the_seeds_drawn(form):
    """A sample averages the runs of the seeds it drew: the others are not scored (about a third fewer calls)."""
    run_info, preds, labels = _family(n_seeds=6)
    scored = []

    def counted_scalar(y_true, y_pred):
        scored.append(1)
        return float(np.mean(y_true == y_pred))

    @batched_score
    def counted_rows(y_true, y_pred):
        if y_true.ndim == 2 and y_true.shape[1] == len(labels):  # a stack of resamples (not the probe's 1-example rows)
            scored.append(len(y_true))
        return np.mean(y_true == y_pred, axis=-1) ** 2  # not a mean of 0/1 values: scored in stacks, not counts

    fn = counted_scalar if form == "scalar" else counted_rows
    ours = multibootstrap(run_info, preds, labels, fn, paired_seeds=True, nboot=40, rng=3, workers=1)
    expected_calls = _expected_calls_paired(run_info, preds.shape[1], nboot=40, rng=3)
    # the probe's calls: one stacked call that a scalar function fails; for a declared batched one, the mean-of-values
    # check's stack of 8 resamples
    probe = 1 if form == "scalar" else 8
    assert sum(scored) - probe == expected_calls < 40 * len(run_info)
    reference_fn = (lambda y, p: float(np.mean(y == p))) if form == "scalar" else counted_rows.fn
    assert ours == [tuple(p) for p in reference_multibootstrap(run_info, preds, labels, reference_fn,
                                                               paired_seeds=True, nboot=40, rng=3)]
