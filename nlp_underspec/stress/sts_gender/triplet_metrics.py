"""sts_gender's triplet readers: the examples the Multi-Bootstrap resamples for each metric of a predictions triplet.

Items are one similarity per template, occupation and gender; a pair's value is sim_f - sim_m. Per occupation,
``delta`` = mean over templates; ``pearson_bls`` / ``spearman_bls`` of delta with BLS % female over occupations;
``mean_abs_delta`` = mean |sim_f - sim_m| over (template, occupation) pairs; ``frac_large_delta`` = share of pairs
whose gap exceeds :data:`~.semantics.LARGE_GAP_SHARE` of the scorer's scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nlp_underspec.stress.examples import (ExampleSet, MeanScore, check_genders, female_minus_male,
                                           mean_absolute_value, mean_by_occupation, mean_value, occupation_examples,
                                           pair_examples, pair_labels, pearson_r, spearman_r, triplet_where)
from nlp_underspec.stress.sts_gender.semantics import (GENDERS, PAIR_KEY, TEST, large_gaps, pair_keys,
                                                       similarity_scale)
from nlp_underspec.tables import ensure_columns

if TYPE_CHECKING:
    from nlp_underspec.triplet import Predictions

COLUMNS = ("template_id", "occupation", "gender")


def _large_gap(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    del y_true  # y_pred: gaps already divided by their model's similarity scale
    return large_gaps(y_pred, 1.0)


share_large_gap = MeanScore(_large_gap, "share_large_gap")


def pair_deltas(predictions: Predictions) -> pd.DataFrame:
    """Per model and (template, occupation): sim(occupation, woman) - sim(occupation, man); columns ``t<id>:<occ>``."""
    items = predictions.label_info
    ensure_columns(items, ("item_id",) + COLUMNS, where=triplet_where(predictions),
                   hint="sts_gender label_info needs one row per (template_id, occupation, gender).")
    check_genders(items, GENDERS, where=triplet_where(predictions))
    return female_minus_male(predictions, pair_keys(items), test=TEST, key_name=PAIR_KEY)


def pair_items(predictions: Predictions) -> pd.DataFrame:
    """The label_info row (female item) of each column of :func:`pair_deltas`: its template_id and occupation."""
    pair_deltas(predictions)  # the checks of the profile these rows describe
    return pair_labels(predictions, pair_keys(predictions.label_info), test=TEST, key_name=PAIR_KEY)


def occupation_deltas(predictions: Predictions) -> pd.DataFrame:
    """Per model and occupation: ``delta``, the mean over templates of sim(occupation, woman) - sim(occupation, man)."""
    pairs = pair_deltas(predictions)
    return mean_by_occupation(pairs, np.asarray(pairs.columns.str.split(":", n=1).str[1]))


def _delta_examples(score_fn):
    """Reader of a statistic of the per-occupation delta against the BLS share of women (0-1)."""

    def reader(predictions, stats) -> ExampleSet:
        return occupation_examples(occupation_deltas(predictions), score_fn, stats, triplet_where(predictions))

    return reader


def _pair_reader(score_fn):
    def reader(predictions, stats) -> ExampleSet:
        return pair_examples(pair_deltas(predictions), score_fn)

    return reader


def _scaled_pair_examples(predictions, stats) -> ExampleSet:
    """Per-pair gaps divided by each model's similarity scale (the scorer in run_info, else read off its values)."""
    pairs = pair_deltas(predictions)
    scorers = predictions.run_info.get("scorer", pd.Series([None] * len(pairs))).tolist()
    scales = np.array([similarity_scale(scorer if isinstance(scorer, str) else None, row)
                       for scorer, row in zip(scorers, predictions.preds)])  # (n_models,)
    scaled = pairs.to_numpy(dtype=float) / scales[:, None]
    return ExampleSet(np.ascontiguousarray(scaled), np.zeros(pairs.shape[1]), share_large_gap, "pair", pairs.index,
                      pairs.columns)


# metric -> reader; the metric names are the scorer's (scores.parquet rows).
TRIPLET_METRICS: dict[str, Callable[[Predictions, pd.DataFrame | None], ExampleSet]] = {
    "pearson_bls": _delta_examples(pearson_r),
    "spearman_bls": _delta_examples(spearman_r),
    "mean_abs_delta": _pair_reader(mean_absolute_value),
    "frac_large_delta": _scaled_pair_examples,
    "mean_delta": _delta_examples(mean_value),
}
