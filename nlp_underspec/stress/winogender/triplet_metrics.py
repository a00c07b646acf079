"""Winogender's triplet readers: the examples the Multi-Bootstrap resamples for each metric of a predictions triplet.

Items are the sentences (``preds`` = P(pronoun -> occupation), ``answer`` 0 = occupation). ``accuracy`` is over the
sentences with a gold answer (a tie at P = 0.5 counts half); per-occupation ``bias`` = mean P over female-pronoun
sentences - mean P over male-pronoun sentences; ``bias_r`` = Pearson r of bias with BLS % female / 100, whose examples
are the occupations (resampled as in the MultiBERTs Winogender study). Each reading is the scorer's own
(:mod:`.semantics`), so a number here equals the one in scores.parquet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.stress.examples import (OCCUPATION_LEVEL, ExampleSet, MeanScore, check_genders, female_minus_male,
                                           mean_absolute_value, model_index, occupation_examples, pair_labels,
                                           pearson_r, slope, spearman_r, triplet_where)
from nlp_underspec.stress.winogender.semantics import (NO_GOLD, PAIR_KEY, bias_by_occupation, check_answers,
                                                       check_labels_against_sentids, half_credit, items_gotcha,
                                                       pair_keys, picked_answers)
from nlp_underspec.tables import ensure_columns

if TYPE_CHECKING:
    from nlp_underspec.triplet import Predictions

COLUMNS = ("occupation", "gender", "answer")
TEST = "winogender"

winogender_accuracy = MeanScore(half_credit, "winogender_accuracy")


def _items(predictions: Predictions) -> pd.DataFrame:
    items = predictions.label_info
    where = triplet_where(predictions)
    ensure_columns(items, ("item_id",) + COLUMNS, where=where,
                   hint="winogender label_info needs one row per sentence with occupation, gender and answer.")
    check_genders(items, ("female", "male", "neutral"), where=where)
    answer = pd.to_numeric(items["answer"], errors="coerce")
    check_answers(items, answer, where=where)
    items = items.copy()
    items["answer"] = answer.astype(int)
    check_labels_against_sentids(items, where=where)  # the scorer's check: a relabelled sentence
    return items


def winogender_correct(predictions: Predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(picks (n_models, n_gold), answers (n_gold,), gold (n_sentences,))`` for :data:`winogender_accuracy`, over
    the sentences that have a gold answer (``gold`` marks them); a pick is :func:`~.semantics.picked_answers`."""
    items = _items(predictions)
    gold = items["answer"].to_numpy() != NO_GOLD
    return picked_answers(predictions.preds[:, gold]), items["answer"].to_numpy(dtype=float)[gold], gold


def occupation_bias(predictions: Predictions) -> pd.DataFrame:
    """Per model and occupation: mean P(occupation) over female-pronoun sentences minus over male-pronoun sentences.

    Rows: models (levels model, pretrain_seed, finetune_seed); columns: occupations in first-appearance order. The
    numbers are the scorer's own (:func:`~.semantics.bias_by_occupation`, a difference of means): a mean of per-frame
    differences is the same in exact arithmetic but not in floats, and biases equal in exact arithmetic (ties) then
    rank apart, so spearman_bias recomputed that way differed from scores.parquet.
    """
    items = _items(predictions)
    # Every female sentence has its male partner (the errors name the item); the pairs themselves are not the score.
    female_minus_male(predictions, pair_keys(items), test=TEST, key_name=PAIR_KEY)
    occupation, gender = items["occupation"].astype(str).to_numpy(), items["gender"].astype(str).to_numpy()
    order = pd.Index(pd.unique(occupation[np.isin(gender, ("female", "male"))]), name=OCCUPATION_LEVEL)
    rows = [bias_by_occupation(row, occupation, gender).reindex(order).to_numpy() for row in predictions.preds]
    values = np.vstack(rows) if rows else np.empty((0, len(order)))
    return pd.DataFrame(values, index=model_index(predictions.run_info), columns=order)


def pair_deltas(predictions: Predictions) -> pd.DataFrame:
    """Per model and sentence frame (``occupation.participant.answer``): P(occ | she) - P(occ | he); PCA items."""
    return female_minus_male(predictions, pair_keys(_items(predictions)), test=TEST, key_name=PAIR_KEY)


def pair_items(predictions: Predictions) -> pd.DataFrame:
    """The label_info row (female sentence) of each column of :func:`pair_deltas`: its occupation, participant, ..."""
    return pair_labels(predictions, pair_keys(_items(predictions)), test=TEST, key_name=PAIR_KEY)


def _accuracy_examples(predictions, stats) -> ExampleSet:
    picked, answers, gold = winogender_correct(predictions)
    return ExampleSet(picked, answers, winogender_accuracy, "sentence", model_index(predictions.run_info),
                      pd.Index(predictions.label_info["item_id"].astype(str)[gold], name="item"))


def _subset_accuracy(gender: str | None = None, *, gotcha: bool | None = None):
    """Reader of accuracy on one pronoun gender, or on the (non-)gotcha sentences (Rudinger et al. 2018, Table 2)."""

    def reader(predictions, stats) -> ExampleSet:
        full = _accuracy_examples(predictions, stats)
        items = _items(predictions)
        items = items[items["answer"].to_numpy() != NO_GOLD]
        if gotcha is None:
            chosen = (items["gender"] == gender).to_numpy()
        else:
            table = load_occupation_stats() if stats is None else stats
            chosen = items_gotcha(items, table, where=triplet_where(predictions)) == gotcha
            chosen &= items["gender"].isin(("female", "male")).to_numpy()
        return ExampleSet(np.ascontiguousarray(full.preds[:, chosen]), full.labels[chosen], full.score_fn, "sentence",
                          full.models, full.examples[chosen])

    return reader


def _bias_examples(score_fn):
    """Reader of a statistic of the per-occupation bias against the BLS share of women (0-1)."""

    def reader(predictions, stats) -> ExampleSet:
        return occupation_examples(occupation_bias(predictions), score_fn, stats, triplet_where(predictions))

    return reader


# metric -> reader; the metric names are the scorer's (scores.parquet rows).
TRIPLET_METRICS: dict[str, Callable[[Predictions, pd.DataFrame | None], ExampleSet]] = {
    "accuracy": _accuracy_examples,
    "bias_r": _bias_examples(pearson_r),
    "spearman_bias": _bias_examples(spearman_r),
    "mean_abs_bias": _bias_examples(mean_absolute_value),
    "bias_slope": _bias_examples(slope),
    "accuracy_female": _subset_accuracy("female"),
    "accuracy_male": _subset_accuracy("male"),
    "accuracy_neutral": _subset_accuracy("neutral"),
    "accuracy_gotcha": _subset_accuracy(gotcha=True),
    "accuracy_not_gotcha": _subset_accuracy(gotcha=False),
}
