"""Score functions over a predictions triplet, in the two shapes the Multi-Bootstrap can vectorize.

A score function is any ``score_fn(y_true, y_pred) -> float`` over one run's predictions on a set of examples (the
MultiBERTs convention). Two kinds carry a fast path that gives bit-identical numbers:

- :class:`MeanScore`: the mean over examples of an elementwise per-example value (accuracy, squared error);
- :class:`RowwiseScore`: a function along the last axis written with numpy reductions only (Pearson or Spearman r over
  occupations), so that one call on a ``(..., n)`` stack equals one call per row.

The triplet readers turn a stress test's predictions into the examples the bootstrap resamples, with the evaluation's
definitions and sign conventions (DESIGN.md contract 5; positive = in line with the share of women in the occupation):

- ``winogender`` (items: the 720 sentences, ``preds`` = P(pronoun -> occupation), ``answer`` 0 = occupation):
  ``accuracy`` over sentences (a tie at P = 0.5 counts half); per-occupation ``bias`` = mean P over female-pronoun
  sentences - mean P over male-pronoun sentences; ``bias_r`` = Pearson r of bias with BLS % female / 100, whose examples
  are the occupations (resampled as in the MultiBERTs Winogender study);
- ``sts_gender`` (items: one similarity per template, occupation and gender): per-pair difference sim_f - sim_m; per
  occupation ``delta`` = mean over templates; ``pearson_bls`` / ``spearman_bls`` of delta with BLS % female over
  occupations; ``mean_abs_delta`` = mean |sim_f - sim_m| over (template, occupation) pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from nlp_underspec.analysis._common import MODEL_INDEX, OCCUPATION_LEVEL, plain
from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.sts_gender import large_gaps, similarity_scale
from nlp_underspec.stress.winogender import NO_GOLD, Winogender, check_labels_against_sentids
from nlp_underspec.tables import ensure_columns
from nlp_underspec.triplet import Predictions

UNKNOWN_OCCUPATION = ("{where} names occupation '{occupation}', which the occupation statistics lack. Pass a statistics "
                      "table that covers it (--occupation-stats) or drop its items.")
BAD_GENDER = "{where}, item '{item}': gender must be one of {allowed}, got {value!r}."
UNPAIRED = ("{where}: {test} item '{item}' ({gender}) has no {other} partner with the same {key}; the analysis compares "
            "female and male items in pairs.")
DUPLICATE_PAIR = ("{where}: {test} item '{item}' repeats the {gender} item of its {key}; each pair needs exactly one "
                  "female and one male item.")
BAD_ANSWER = ("{where}, item '{item}': answer must be 0 (occupation), 1 (participant) or -1 (no cue, no gold), got "
              "{value!r}.")
NO_TRIPLET_METRIC = "No triplet score for {test}/{metric}. Available: {available}."

WINOGENDER_COLUMNS = ("occupation", "gender", "answer")
STS_COLUMNS = ("template_id", "occupation", "gender")
# Dyadic values with at most this many binary digits after the point sum exactly in float64 (up to 2**53 in total).
_EXACT_FRACTION_BITS = 10


class MeanScore:
    """``np.mean(per_example(y_true, y_pred))`` with the per-example function exposed for the fast path.

    >>> accuracy(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0]))
    np.float64(0.5)
    """

    def __init__(self, per_example: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str):
        self.per_example = per_example
        self.__name__ = name

    def __call__(self, y_true, y_pred):
        return np.mean(self.per_example(np.asarray(y_true), np.asarray(y_pred)))

    def __repr__(self) -> str:
        return f"MeanScore({self.__name__})"


class RowwiseScore:
    """A score along the last axis: ``rowwise(y_true (..., n), y_pred (..., n)) -> (...)``; calling it scores one row.

    >>> float(pearson_r(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0]))) > 0.98
    True
    """

    def __init__(self, rowwise: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str):
        self.rowwise = rowwise
        self.__name__ = name

    def __call__(self, y_true, y_pred):
        return self.rowwise(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float))[()]

    def __repr__(self) -> str:
        return f"RowwiseScore({self.__name__})"


def exact_sum_values(values: np.ndarray) -> bool:
    """True when any sum of ``values`` is exact in float64, so the order of summation cannot change a mean."""
    values = np.asarray(values)
    if values.dtype.kind in "bui":
        return values.size == 0 or float(np.abs(values).max()) * values.shape[-1] < 2.0**53
    if values.dtype != np.float64:
        return False  # float32 means accumulate in float32: keep numpy's own reduction
    scaled = values * 2.0**_EXACT_FRACTION_BITS
    return bool(np.all(scaled == np.round(scaled))) and float(np.abs(scaled).max(initial=0.0)) * values.shape[-1] < 2.0**53


def _pearson_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    # Reductions only along the last, contiguous axis (never np.dot): each row is summed exactly as a lone 1-D call.
    x = np.ascontiguousarray(y_true)
    y = np.ascontiguousarray(y_pred)
    xm = x - np.mean(x, axis=-1, keepdims=True)
    ym = y - np.mean(y, axis=-1, keepdims=True)
    numerator = np.sum(xm * ym, axis=-1)
    denominator = np.sqrt(np.sum(xm * xm, axis=-1) * np.sum(ym * ym, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(numerator / denominator, -1.0, 1.0)  # constant input: 0/0 = NaN, reported by the caller


def _spearman_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    # Average ranks are exact (halves of integers), so ranking a stack equals ranking each row.
    return _pearson_rows(scipy.stats.rankdata(y_true, axis=-1), scipy.stats.rankdata(y_pred, axis=-1))


def _correct(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return (y_true == y_pred).astype(np.float64)


def _squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return (np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)) ** 2


def _absolute_value(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    del y_true  # a label-free per-example magnitude, e.g. |sim_f - sim_m|
    return np.abs(np.asarray(y_pred, dtype=float))


def _large_gap(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    del y_true  # y_pred: gaps already divided by their model's similarity scale
    return large_gaps(y_pred, 1.0)


def _slope_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    # Least-squares slope of y_pred on y_true along the last axis, reductions only (as _pearson_rows).
    x = np.ascontiguousarray(y_true)
    y = np.ascontiguousarray(y_pred)
    xm = x - np.mean(x, axis=-1, keepdims=True)
    ym = y - np.mean(y, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(xm * ym, axis=-1) / np.sum(xm * xm, axis=-1)


accuracy = MeanScore(_correct, "accuracy")
mean_value = MeanScore(lambda y_true, y_pred: np.asarray(y_pred, dtype=float), "mean_value")
share_large_gap = MeanScore(_large_gap, "share_large_gap")
mean_squared_error = MeanScore(_squared_error, "mean_squared_error")
mean_absolute_value = MeanScore(_absolute_value, "mean_absolute_value")
pearson_r = RowwiseScore(_pearson_rows, "pearson_r")
spearman_r = RowwiseScore(_spearman_rows, "spearman_r")
slope = RowwiseScore(_slope_rows, "slope")


# ---------------------------------------------------------------------------------------------------- triplet readers
@dataclass(frozen=True)
class ExampleSet:
    """What the Multi-Bootstrap resamples for one metric of one triplet.

    ``preds`` is ``(n_models, n_examples)`` aligned with ``models`` (index levels model, pretrain_seed, finetune_seed),
    ``labels`` is ``(n_examples,)``; ``unit`` names what an example is (``sentence``, ``occupation``, ``pair``).
    """

    preds: np.ndarray  # (n_models, n_examples)
    labels: np.ndarray  # (n_examples,)
    score_fn: Callable
    unit: str
    models: pd.MultiIndex
    examples: pd.Index

    def scores(self) -> pd.Series:
        """Each model's score on all examples (the point estimate the bootstrap resamples around)."""
        values = [self.score_fn(self.labels, row) for row in self.preds]
        return pd.Series(np.asarray(values, dtype=float), index=self.models, name=getattr(self.score_fn, "__name__", ""))


def model_index(run_info: pd.DataFrame) -> pd.MultiIndex:
    """``(model, pretrain_seed, finetune_seed)`` of every run_info row, seeds as nullable integers."""
    frame = run_info.reindex(columns=list(MODEL_INDEX)).copy()
    frame["model"] = frame["model"].astype(str)
    for level in MODEL_INDEX[1:]:
        frame[level] = pd.array(pd.to_numeric(frame[level], errors="coerce"), dtype="Int64")
    return pd.MultiIndex.from_frame(frame)


def _where(predictions: Predictions) -> str:
    return f"{predictions.source}/label_info.tsv" if predictions.source != "<memory>" else "label_info"


def _check_genders(items: pd.DataFrame, allowed: tuple[str, ...], *, where: str) -> None:
    bad = ~items["gender"].isin(allowed)
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise UsageError(BAD_GENDER.format(where=where, item=items["item_id"].iloc[index], allowed=", ".join(allowed),
                                           value=items["gender"].iloc[index]))


def _female_minus_male(predictions: Predictions, keys: pd.Series, *, test: str, key_name: str) -> pd.DataFrame:
    """``(n_models, n_pairs)`` of preds(female item) - preds(male item) for items sharing a key, keys in first order."""
    items = predictions.label_info
    where = _where(predictions)
    positions = {}
    for gender in ("female", "male"):
        chosen = items["gender"].to_numpy() == gender
        positions[gender] = pd.Series(np.flatnonzero(chosen), index=pd.Index(keys[chosen].to_numpy()))
    for gender, other in (("female", "male"), ("male", "female")):
        repeated = positions[gender].index.duplicated()
        if repeated.any():
            row = int(positions[gender].to_numpy()[np.flatnonzero(repeated)[0]])
            raise UsageError(DUPLICATE_PAIR.format(where=where, test=test, item=items["item_id"].iloc[row],
                                                   gender=gender, key=key_name))
        lonely = ~positions[gender].index.isin(positions[other].index)
        if lonely.any():
            row = int(positions[gender].to_numpy()[np.flatnonzero(lonely)[0]])
            raise UsageError(UNPAIRED.format(where=where, test=test, item=items["item_id"].iloc[row], gender=gender,
                                             other=other, key=key_name))
    order = positions["female"].index
    female = positions["female"].to_numpy()
    male = positions["male"].reindex(order).to_numpy()
    diffs = predictions.preds[:, female] - predictions.preds[:, male]  # (n_models, n_pairs)
    return pd.DataFrame(diffs, index=model_index(predictions.run_info), columns=pd.Index(order, name="item"))


def _winogender_items(predictions: Predictions) -> pd.DataFrame:
    items = predictions.label_info
    ensure_columns(items, ("item_id",) + WINOGENDER_COLUMNS, where=_where(predictions),
                   hint="winogender label_info needs one row per sentence with occupation, gender and answer.")
    _check_genders(items, ("female", "male", "neutral"), where=_where(predictions))
    answer = pd.to_numeric(items["answer"], errors="coerce")
    bad = ~answer.isin([0, 1, NO_GOLD])
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise UsageError(BAD_ANSWER.format(where=_where(predictions), item=items["item_id"].iloc[index],
                                           value=plain(items["answer"].iloc[index])))
    items = items.copy()
    items["answer"] = answer.astype(int)
    check_labels_against_sentids(items, where=_where(predictions))  # the scorer's check: a relabelled sentence
    return items


def _winogender_pair_keys(items: pd.DataFrame) -> pd.Series:
    """One key per (occupation, participant, answer): the sentence frame that differs only in the pronoun."""
    participant = items["participant"].astype(str) if "participant" in items.columns else pd.Series("", index=items.index)
    return items["occupation"].astype(str) + "." + participant + "." + items["answer"].astype(str)


def winogender_correct(predictions: Predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(preds_as_answers (n_models, n_gold), answers (n_gold,), gold (n_sentences,))`` for
    :data:`winogender_accuracy`, over the sentences that have a gold answer (``gold`` marks them).

    A resolver picks the occupation (answer 0) when P > 0.5 and the participant (1) when P < 0.5; a tie is coded 0.5,
    which the score counts as half right (a coin flip between the candidates), as the evaluation does.
    """
    items = _winogender_items(predictions)
    gold = items["answer"].to_numpy() != NO_GOLD
    p = predictions.preds[:, gold]
    picked = np.where(p > 0.5, 0.0, np.where(p < 0.5, 1.0, 0.5))  # (n_models, n_gold)
    return picked, items["answer"].to_numpy(dtype=float)[gold], gold


def _half_credit(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return np.where(y_pred == 0.5, 0.5, (y_true == y_pred).astype(np.float64))


winogender_accuracy = MeanScore(_half_credit, "winogender_accuracy")


def winogender_occupation_bias(predictions: Predictions) -> pd.DataFrame:
    """Per model and occupation: mean P(occupation) over female-pronoun sentences minus over male-pronoun sentences.

    Rows: models (levels model, pretrain_seed, finetune_seed); columns: occupations in first-appearance order. The
    numbers are the scorer's own (:meth:`Winogender.bias_by_occupation`, a difference of means): a mean of per-frame
    differences is the same in exact arithmetic but not in floats, and biases equal in exact arithmetic (ties) then
    rank apart, so spearman_bias recomputed here differed from scores.parquet.
    """
    items = _winogender_items(predictions)
    # Every female sentence has its male partner (the errors name the item); the pairs themselves are not the score.
    _female_minus_male(predictions, _winogender_pair_keys(items), test="winogender",
                       key_name="occupation, participant and answer")
    occupation, gender = items["occupation"].astype(str).to_numpy(), items["gender"].astype(str).to_numpy()
    order = pd.Index(pd.unique(occupation[np.isin(gender, ("female", "male"))]), name=OCCUPATION_LEVEL)
    rows = [Winogender.bias_by_occupation(row, occupation, gender).reindex(order).to_numpy()
            for row in predictions.preds]
    values = np.vstack(rows) if rows else np.empty((0, len(order)))
    return pd.DataFrame(values, index=model_index(predictions.run_info), columns=order)


def _mean_by_occupation(pairs: pd.DataFrame, occupation: np.ndarray) -> pd.DataFrame:
    by_occupation = pairs.T.groupby(occupation, sort=False).mean().T  # (n_models, n_occupations)
    by_occupation.columns.name = OCCUPATION_LEVEL
    return by_occupation


def winogender_pair_deltas(predictions: Predictions) -> pd.DataFrame:
    """Per model and sentence frame (``occupation.participant.answer``): P(occ | she) - P(occ | he); PCA items."""
    items = _winogender_items(predictions)
    return _female_minus_male(predictions, _winogender_pair_keys(items), test="winogender",
                              key_name="occupation, participant and answer")


def _sts_items(predictions: Predictions) -> pd.DataFrame:
    items = predictions.label_info
    ensure_columns(items, ("item_id",) + STS_COLUMNS, where=_where(predictions),
                   hint="sts_gender label_info needs one row per (template_id, occupation, gender).")
    _check_genders(items, ("female", "male"), where=_where(predictions))
    return items


def sts_pair_deltas(predictions: Predictions) -> pd.DataFrame:
    """Per model and (template, occupation): sim(occupation, woman) - sim(occupation, man); columns ``t<id>:<occ>``."""
    items = _sts_items(predictions)
    keys = "t" + items["template_id"].astype(str) + ":" + items["occupation"].astype(str)
    return _female_minus_male(predictions, keys, test="sts_gender", key_name="template_id and occupation")


def sts_occupation_deltas(predictions: Predictions) -> pd.DataFrame:
    """Per model and occupation: ``delta``, the mean over templates of sim(occupation, woman) - sim(occupation, man)."""
    pairs = sts_pair_deltas(predictions)
    return _mean_by_occupation(pairs, np.asarray(pairs.columns.str.split(":", n=1).str[1]))


def bls_fraction(occupations, occupation_stats: pd.DataFrame | None = None, *, where: str = "label_info") -> np.ndarray:
    """BLS share of women (0-1) of each occupation, in order."""
    stats = load_occupation_stats() if occupation_stats is None else occupation_stats
    for occupation in occupations:
        if occupation not in stats.index:
            raise UsageError(UNKNOWN_OCCUPATION.format(where=where, occupation=occupation))
    return stats.loc[list(occupations), "bls_pct_female"].to_numpy(dtype=float) / 100.0


def _occupation_examples(profile: pd.DataFrame, score_fn, stats, where) -> ExampleSet:
    labels = bls_fraction(profile.columns, stats, where=where)
    return ExampleSet(np.ascontiguousarray(profile.to_numpy(dtype=float)), labels, score_fn, "occupation",
                      profile.index, profile.columns)


def _winogender_accuracy_examples(predictions, stats) -> ExampleSet:
    picked, answers, gold = winogender_correct(predictions)
    return ExampleSet(picked, answers, winogender_accuracy, "sentence", model_index(predictions.run_info),
                      pd.Index(predictions.label_info["item_id"].astype(str)[gold], name="item"))


def _winogender_subset_accuracy(gender: str | None = None, *, gotcha: bool | None = None):
    """Reader of accuracy on one pronoun gender, or on the (non-)gotcha sentences (Rudinger et al. 2018, Table 2)."""

    def reader(predictions, stats) -> ExampleSet:
        full = _winogender_accuracy_examples(predictions, stats)
        items = _winogender_items(predictions)
        items = items[items["answer"].to_numpy() != NO_GOLD]
        if gotcha is None:
            chosen = (items["gender"] == gender).to_numpy()
        else:
            chosen = _gotcha(items, stats, where=_where(predictions)) == gotcha
            chosen &= items["gender"].isin(("female", "male")).to_numpy()
        return ExampleSet(np.ascontiguousarray(full.preds[:, chosen]), full.labels[chosen], full.score_fn, "sentence",
                          full.models, full.examples[chosen])

    return reader


def _gotcha(items: pd.DataFrame, stats, *, where: str) -> np.ndarray:
    """The answer goes against the occupation's majority gender (BLS): she -> occupation < 50% female, or she ->
    participant for an occupation >= 50% female; reversed for he."""
    majority_female = bls_fraction(pd.unique(items["occupation"]), stats, where=where) >= 0.5
    majority = items["occupation"].map(dict(zip(pd.unique(items["occupation"]), majority_female))).to_numpy()
    to_occupation = items["answer"].to_numpy() == 0
    female = (items["gender"] == "female").to_numpy() & (to_occupation != majority)
    male = (items["gender"] == "male").to_numpy() & (to_occupation == majority)
    return female | male


def _winogender_mean_abs_bias_examples(predictions, stats) -> ExampleSet:
    return _occupation_examples(winogender_occupation_bias(predictions), mean_absolute_value, stats,
                                _where(predictions))


def _winogender_bias_r_examples(predictions, stats) -> ExampleSet:
    return _occupation_examples(winogender_occupation_bias(predictions), pearson_r, stats, _where(predictions))


def _winogender_bias_slope_examples(predictions, stats) -> ExampleSet:
    return _occupation_examples(winogender_occupation_bias(predictions), slope, stats, _where(predictions))


def _winogender_spearman_examples(predictions, stats) -> ExampleSet:
    return _occupation_examples(winogender_occupation_bias(predictions), spearman_r, stats, _where(predictions))


def _sts_pearson_examples(predictions, stats) -> ExampleSet:
    return _occupation_examples(sts_occupation_deltas(predictions), pearson_r, stats, _where(predictions))


def _sts_spearman_examples(predictions, stats) -> ExampleSet:
    return _occupation_examples(sts_occupation_deltas(predictions), spearman_r, stats, _where(predictions))


def _sts_pair_examples(score_fn):
    def reader(predictions, stats) -> ExampleSet:
        pairs = sts_pair_deltas(predictions)
        return ExampleSet(np.ascontiguousarray(pairs.to_numpy(dtype=float)), np.zeros(pairs.shape[1]), score_fn,
                          "pair", pairs.index, pairs.columns)

    return reader


def _sts_scaled_pair_examples(predictions, stats) -> ExampleSet:
    """Per-pair gaps divided by each model's similarity scale (the scorer in run_info, else read off its values)."""
    pairs = sts_pair_deltas(predictions)
    scorers = predictions.run_info.get("scorer", pd.Series([None] * len(pairs))).tolist()
    scales = np.array([similarity_scale(scorer if isinstance(scorer, str) else None, row)
                       for scorer, row in zip(scorers, predictions.preds)])  # (n_models,)
    scaled = pairs.to_numpy(dtype=float) / scales[:, None]
    return ExampleSet(np.ascontiguousarray(scaled), np.zeros(pairs.shape[1]), share_large_gap, "pair", pairs.index,
                      pairs.columns)


def _sts_mean_delta_examples(predictions, stats) -> ExampleSet:
    return _occupation_examples(sts_occupation_deltas(predictions), mean_value, stats, _where(predictions))


# (test, metric) -> reader. The metric names are the evaluation's (scores.parquet rows).
TRIPLET_METRICS: dict[tuple[str, str], Callable[[Predictions, pd.DataFrame | None], ExampleSet]] = {
    ("winogender", "accuracy"): _winogender_accuracy_examples,
    ("winogender", "bias_r"): _winogender_bias_r_examples,
    ("winogender", "spearman_bias"): _winogender_spearman_examples,
    ("winogender", "mean_abs_bias"): _winogender_mean_abs_bias_examples,
    ("winogender", "bias_slope"): _winogender_bias_slope_examples,
    ("winogender", "accuracy_female"): _winogender_subset_accuracy("female"),
    ("winogender", "accuracy_male"): _winogender_subset_accuracy("male"),
    ("winogender", "accuracy_neutral"): _winogender_subset_accuracy("neutral"),
    ("winogender", "accuracy_gotcha"): _winogender_subset_accuracy(gotcha=True),
    ("winogender", "accuracy_not_gotcha"): _winogender_subset_accuracy(gotcha=False),
    ("sts_gender", "pearson_bls"): _sts_pearson_examples,
    ("sts_gender", "spearman_bls"): _sts_spearman_examples,
    ("sts_gender", "mean_abs_delta"): _sts_pair_examples(mean_absolute_value),
    ("sts_gender", "frac_large_delta"): _sts_scaled_pair_examples,
    ("sts_gender", "mean_delta"): _sts_mean_delta_examples,
}

# Per-occupation profiles (clustering) and per-item deviations (PCA) of each stress test.
OCCUPATION_PROFILES = {"winogender": winogender_occupation_bias, "sts_gender": sts_occupation_deltas}
ITEM_PROFILES = {"winogender": winogender_pair_deltas, "sts_gender": sts_pair_deltas}


def example_set(*, test: str, metric: str, predictions: Predictions,
                occupation_stats: pd.DataFrame | None = None) -> ExampleSet:
    """The resampling units, labels and score function of ``test/metric`` for a triplet.

    >>> run_info = pd.DataFrame({"model": ["a", "b"], "pretrain_seed": [0, 1], "finetune_seed": [0, 0]})
    >>> items = pd.DataFrame({"item_id": ["nurse.patient.0.female.txt", "nurse.patient.0.male.txt"],
    ...                       "occupation": ["nurse"] * 2, "participant": ["patient"] * 2, "answer": [0, 0],
    ...                       "gender": ["female", "male"]})
    >>> triplet = Predictions(run_info, items, np.array([[0.9, 0.2], [0.5, 0.6]]))
    >>> example_set(test="winogender", metric="accuracy", predictions=triplet).scores().tolist()
    [0.5, 0.75]
    """
    reader = TRIPLET_METRICS.get((test, metric))
    if reader is None:
        available = ", ".join(f"{t}/{m}" for t, m in TRIPLET_METRICS)
        raise UsageError(NO_TRIPLET_METRIC.format(test=test, metric=metric, available=available))
    return reader(predictions, occupation_stats)
