"""One random split of the stress items is one draw: the pick, its confirmation rank and its iid cost over K splits.

Split 0 is the single split of :func:`~nlp_underspec.analysis.selection.split_units` (``default_rng(seed)``); splits
1..K-1 draw their permutations in turn from ``default_rng([seed, 0])``, so a larger K keeps the first splits and the
same seed gives the same numbers. Each half is scored from the test's examples on all items (computed once) restricted
to the examples of the half's units, which is the scorer's metric on those items whenever every example lies in one
unit (an occupation split of per-occupation biases, of sentences or of pairs). Where it does not (an occupation's delta
averages over templates, and a template split cuts it) each half is rescored by the test's reader, exactly and slowly.
The same is done when the fast values of split 0 differ from the reader's (a plugin score), so they are never wrong.

The intervals are the central 95% of the K splits: how much the answer moves with the choice of split, for these
members and items; not an interval over new items or new seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import percentile_interval
from nlp_underspec.analysis.selection_floor import LEVEL, score_stack
from nlp_underspec.stress.examples import OCCUPATION_LEVEL, ExampleSet, spearman_r
from nlp_underspec.stress.registry import get_stress_test

_SPLITS_STREAM = 0
TOP_PICKS = 5
INTERVAL_WORDS = ("central 95% of the splits: how much the answer moves with the choice of split, for these members and "
                  "items (not an interval over new items or seeds)")
AGREEMENT_WORDS = ("Spearman r across members between the two halves' distances from the objective (1: the halves rank "
                   "the members alike; 0: the ranking on one half says nothing of the other)")


UNSTABLE = ("{stress}: the pick does not hold up over the splits: its confirmation rank's 95% interval over {n} splits is "
            "[{low:g}, {high:g}], reaching past the middle of the {members} members ({middle:g}); the members differ on "
            "it, but which one is best depends on the items")


def unstable_reason(summary: dict, *, stress: str, n_members: int) -> str | None:
    """Why a pick above the floors is still not one to trust, or None: on 95% of the splits it must rank in the better
    half of the members on the confirmation items (a pick by chance ranks (n + 1) / 2 on average)."""
    interval = summary["confirmation_rank"]["ci95"]
    middle = (n_members + 1) / 2
    if interval is None or interval[1] <= middle:
        return None
    return UNSTABLE.format(stress=stress, n=summary["n_defined"], low=interval[0], high=interval[1],
                           members=n_members, middle=middle)


def split_orders(n_units: int, *, seed: int, splits: int) -> np.ndarray:
    """``(splits, n_units)``: each split's permutation of the sorted units (row 0: the single split's)."""
    rows = [np.random.default_rng(seed).permutation(n_units)]
    rng = np.random.default_rng([seed, _SPLITS_STREAM])
    rows += [rng.permutation(n_units) for _ in range(splits - 1)]
    return np.vstack(rows)


def example_units(examples: ExampleSet, predictions, *, test: str, column: str) -> np.ndarray | None:
    """The split unit (``label_info[column]``, as text) of every example, or None when an example spans several."""
    names = pd.Index(examples.examples.astype(str))
    if examples.unit == OCCUPATION_LEVEL:
        return names.to_numpy() if column == "occupation" else None
    items = predictions.label_info
    tables = [items.assign(item_id=items["item_id"].astype(str)).drop_duplicates("item_id").set_index("item_id")]
    labels = getattr(type(get_stress_test(test)), "item_labels", None)
    for table in tables + ([labels] if labels is not None else []):
        table = table if isinstance(table, pd.DataFrame) else table(predictions)  # the test's per-pair rows, if asked
        table.index = table.index.astype(str)
        if column in table.columns and names.isin(table.index).all():
            return table.loc[names, column].astype(str).to_numpy()
    return None


def fast_half_values(examples: ExampleSet, codes: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """``(splits, n_models)``: the score of each member on the examples whose unit is chosen (``chosen``:
    ``(splits, n_units)`` booleans over the sorted units; ``codes``: each example's position in them)."""
    preds = np.asarray(examples.preds, dtype=float)
    out = np.empty((chosen.shape[0], preds.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, row in enumerate(chosen):
            mask = row[codes]
            out[k] = score_stack(examples, np.ascontiguousarray(preds[:, mask]), examples.labels[mask])
    return out


def _ranks_of(bad: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """1 + the members strictly better than each split's pick (ties share the better rank)."""
    return 1 + np.sum(bad < np.take_along_axis(bad, picks[:, None], axis=1), axis=1)


def _summary(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return {"median": None, "ci95": None}
    return {"median": float(np.median(values)), "ci95": percentile_interval(values, LEVEL)}


def _pick_shares(models: list[str], picks: np.ndarray) -> list[dict]:
    counts = np.bincount(picks, minlength=len(models))
    order = sorted(range(len(models)), key=lambda i: (-counts[i], i))[:TOP_PICKS]
    return [{"model": models[i], "share": float(counts[i] / len(picks))} for i in order if counts[i]]


def repeated_summary(selection: np.ndarray, confirmation: np.ndarray, bad: tuple[np.ndarray, np.ndarray], *,
                     models: list[str], iid: pd.Series | None, iid_cost: dict | None, n_units: int) -> dict:
    """The distribution over splits of the pick, its values, confirmation rank, iid cost and the halves' agreement.
    Splits on which some member's value is undefined on a half are left out (``n_undefined``)."""
    # Split 0 is the single split, whose undefined values were refused, so at least one split is left.
    defined = np.isfinite(selection).all(axis=1) & np.isfinite(confirmation).all(axis=1)
    sel, conf = selection[defined], confirmation[defined]
    bad_sel, bad_conf = bad[0][defined], bad[1][defined]
    picks = np.argmin(bad_sel, axis=1)  # ties: the first member in run_info order, as the single split
    ranks = _ranks_of(bad_conf, picks)
    rows = np.arange(len(picks))
    k, cut = len(selection), n_units - n_units // 2
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = spearman_r.rowwise(bad_sel, bad_conf)
    result = {"n_splits": int(k), "n_defined": int(defined.sum()), "n_undefined": int(k - defined.sum()),
              "distinct_splits": math.comb(n_units, cut), "interval": INTERVAL_WORDS,
              "picks": _pick_shares(models, picks),
              "selection_value": _summary(sel[rows, picks]), "confirmation_value": _summary(conf[rows, picks]),
              "confirmation_rank": _summary(ranks), "confirmed_best_share": float(np.mean(ranks == 1)),
              "chance": {"confirmation_rank_median": (len(models) + 1) / 2, "confirmed_best_share": 1 / len(models)},
              "halves_agreement": {"statistic": AGREEMENT_WORDS, **_summary(agreement[np.isfinite(agreement)])}}
    if iid is not None and iid_cost is not None and "best" in iid_cost:
        costs = iid.reindex(models).to_numpy(dtype=float)[picks] - iid_cost["best"]
        known = costs[np.isfinite(costs)]
        result["iid_cost"] = {"metric": iid_cost["metric"], **_summary(known), "n_known": int(known.size)}
    return result
