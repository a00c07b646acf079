"""Score functions over a predictions triplet and the examples the Multi-Bootstrap resamples, for every stress test.

A score function is any ``score_fn(y_true, y_pred) -> float`` over one run's predictions on a set of examples (the
MultiBERTs convention). Two kinds carry a fast path that gives bit-identical numbers:

- :class:`MeanScore`: the mean over examples of an elementwise per-example value (accuracy, squared error);
- :class:`RowwiseScore`: a function along the last axis written with numpy reductions only (Pearson or Spearman r over
  occupations), so that one call on a ``(..., n)`` stack equals one call per row.

A stress test's triplet readers (its ``triplet_metrics()``) build an :class:`ExampleSet` from a triplet with these
pieces; the female/male pairing check here is the one both a test's scorer and the analysis use, so a triplet one of
them accepts the other accepts too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.stats

from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.base import bls_share

if TYPE_CHECKING:
    from nlp_underspec.triplet import Predictions

SEED_LEVEL = "pretrain_seed"
RUN_LEVEL = "finetune_seed"
MODEL_LEVEL = "model"
OCCUPATION_LEVEL = "occupation"
MODEL_INDEX = (MODEL_LEVEL, SEED_LEVEL, RUN_LEVEL)

BAD_GENDER = "{where}, item '{item}': gender must be one of {allowed}, got {value!r}."
UNPAIRED = ("{where}: {test} item '{item}' ({gender}) has no {other} partner with the same {key}; {test} compares "
            "female and male items in pairs.")
DUPLICATE_PAIR = ("{where}: {test} item '{item}' repeats the {gender} item of its {key}; each pair needs exactly one "
                  "female and one male item.")
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


def _slope_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    # Least-squares slope of y_pred on y_true along the last axis, reductions only (as _pearson_rows).
    x = np.ascontiguousarray(y_true)
    y = np.ascontiguousarray(y_pred)
    xm = x - np.mean(x, axis=-1, keepdims=True)
    ym = y - np.mean(y, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(xm * ym, axis=-1) / np.sum(xm * xm, axis=-1)


def _correct(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return (y_true == y_pred).astype(np.float64)


def _squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return (np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)) ** 2


def _absolute_value(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    del y_true  # a label-free per-example magnitude, e.g. |sim_f - sim_m|
    return np.abs(np.asarray(y_pred, dtype=float))


accuracy = MeanScore(_correct, "accuracy")
mean_value = MeanScore(lambda y_true, y_pred: np.asarray(y_pred, dtype=float), "mean_value")
mean_squared_error = MeanScore(_squared_error, "mean_squared_error")
mean_absolute_value = MeanScore(_absolute_value, "mean_absolute_value")
pearson_r = RowwiseScore(_pearson_rows, "pearson_r")
spearman_r = RowwiseScore(_spearman_rows, "spearman_r")
slope = RowwiseScore(_slope_rows, "slope")


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


def triplet_where(predictions: Predictions) -> str:
    """How a message names a triplet's item table."""
    return f"{predictions.source}/label_info.tsv" if predictions.source != "<memory>" else "label_info"


def check_genders(items: pd.DataFrame, allowed: tuple[str, ...], *, where: str) -> None:
    """Every item's gender is one of ``allowed``: a typo would drop it from every female/male comparison."""
    bad = ~items["gender"].isin(allowed)
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise UsageError(BAD_GENDER.format(where=where, item=items["item_id"].iloc[index], allowed=", ".join(allowed),
                                           value=items["gender"].iloc[index]))


def female_male_rows(items: pd.DataFrame, keys: pd.Series, *, where: str, test: str,
                     key_name: str) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """``(keys, female rows, male rows)``: the row of each key's one female and one male item, keys in the order of the
    female items. A key with two items of one gender, or with one gender only, is an error naming the item."""
    positions = {}
    for gender in ("female", "male"):
        chosen = items["gender"].to_numpy() == gender
        positions[gender] = pd.Series(np.flatnonzero(chosen), index=pd.Index(np.asarray(keys)[chosen]))
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
    return order, positions["female"].to_numpy(), positions["male"].reindex(order).to_numpy()


def female_minus_male(predictions: Predictions, keys: pd.Series, *, test: str, key_name: str) -> pd.DataFrame:
    """``(n_models, n_pairs)`` of preds(female item) - preds(male item) for items sharing a key, keys in first order."""
    order, female, male = female_male_rows(predictions.label_info, keys, where=triplet_where(predictions), test=test,
                                           key_name=key_name)
    diffs = predictions.preds[:, female] - predictions.preds[:, male]  # (n_models, n_pairs)
    return pd.DataFrame(diffs, index=model_index(predictions.run_info), columns=pd.Index(order, name="item"))


def pair_labels(predictions: Predictions, keys: pd.Series, *, test: str, key_name: str) -> pd.DataFrame:
    """The label_info row of each pair's female item, indexed by the pair's key in :func:`female_minus_male`'s column
    order: what an item of a per-pair profile is (its template, occupation, ...)."""
    order, female, _ = female_male_rows(predictions.label_info, keys, where=triplet_where(predictions), test=test,
                                        key_name=key_name)
    labels = predictions.label_info.iloc[female].reset_index(drop=True)
    return labels.set_axis(pd.Index(order, name="item"), axis=0)


def bls_fraction(occupations, occupation_stats: pd.DataFrame | None = None, *, where: str = "label_info") -> np.ndarray:
    """BLS share of women (0-1) of each occupation, in order (the shipped table when none is given)."""
    stats = load_occupation_stats() if occupation_stats is None else occupation_stats
    return bls_share(list(occupations), stats, where=where) / 100.0


def occupation_examples(profile: pd.DataFrame, score_fn, stats, where: str) -> ExampleSet:
    """The occupations of a per-occupation profile as examples, labelled with their BLS share of women (0-1)."""
    labels = bls_fraction(profile.columns, stats, where=where)
    return ExampleSet(np.ascontiguousarray(profile.to_numpy(dtype=float)), labels, score_fn, OCCUPATION_LEVEL,
                      profile.index, profile.columns)


def pair_examples(pairs: pd.DataFrame, score_fn) -> ExampleSet:
    """The female/male pairs of a per-pair profile as examples (label-free: the score reads the gap alone)."""
    return ExampleSet(np.ascontiguousarray(pairs.to_numpy(dtype=float)), np.zeros(pairs.shape[1]), score_fn, "pair",
                      pairs.index, pairs.columns)


def mean_by_occupation(pairs: pd.DataFrame, occupation: np.ndarray) -> pd.DataFrame:
    """``(n_models, n_occupations)``: each occupation's mean over its pairs, occupations in first order."""
    by_occupation = pairs.T.groupby(occupation, sort=False).mean().T  # (n_models, n_occupations)
    by_occupation.columns.name = OCCUPATION_LEVEL
    return by_occupation
