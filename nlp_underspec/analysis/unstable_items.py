"""Which stress items does the family disagree on, and is that disagreement the pretraining seed's?

For each item of a stress test's per-item profile (the registry's ``item_profile``: models x items, e.g. sim(occupation,
woman) - sim(occupation, man) per template and occupation, or P(occupation | she) - P(occupation | he) per Winogender
sentence frame), ``variance`` is the item's sample variance across the family's models (ddof 1), and the one-way
random-effects split of :func:`~nlp_underspec.analysis.variance.seed_share` divides it into a between-pretraining-seed
part ``between_var`` and a within-seed part ``within_var`` (fine-tuning seeds nested in pretraining seeds);
``share_between`` = between / (between + within), with ``share_ci95`` the F-based interval of the ICC (Shrout & Fleiss
1979: analytic, no resampling) clipped to [0, 1], the range of a share; the unclipped interval is kept as ``icc_ci95``.
An ICC interval wholly below 0 (runs of one seed differ more than runs of different seeds, which the one-way model
cannot produce) gives no ``share_ci95`` and a ``share_note`` saying so: its share 0 is a truncation, not a measurement. Items are ranked by ``variance``; templates and occupations (the
columns ``template_id`` / ``occupation`` of the items' label_info rows, the registry's ``item_labels``, where a test has
them) are ranked by the mean of their items' numbers.

A split needs at least 2 pretraining seeds and a seed with 2 or more runs; otherwise it ``cannot tell`` and says why
(the variance is still stated). A split from fewer than :data:`MIN_TRUSTED_SEEDS` pretraining seeds is marked
``reliable`` false: a between-seed variance from 2 seeds rests on one difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import SEED_LEVEL, check_count, check_finite, plain
from nlp_underspec.analysis.variance import seed_share
from nlp_underspec.errors import UsageError

DEFAULT_TOP = 10  # items, templates and occupations kept per test in analysis.json
MIN_TRUSTED_SEEDS = 3
GROUPS = (("templates", "template_id"), ("occupations", "occupation"))  # (analysis.json key, label_info column)
SPLIT_MADE = "made"
CANNOT_TELL = "cannot tell"
ONE_SEED = ("{what}: the {n} models come from {k} pretraining seed, so the variance cannot be split into between- and "
            "within-seed parts (a split from one seed is not a finding). Add runs with other pretraining seeds.")
NO_RUN_SEEDS = ("{what}: {k} models have no pretraining seed, so the variance cannot be split into between- and "
                "within-seed parts.")
NO_REPLICATES = ("{what}: every pretraining seed has one run, so within-seed variance cannot be estimated and the "
                 "variance cannot be split. Add fine-tuning seeds.")
FEW_SEEDS_NOTE = ("the split rests on {k} pretraining seeds: fewer than {need}, so the between-seed part is not "
                  "trustworthy")
FEW_ITEMS = "{what}: the unstable items need at least 2 models and 1 item, got {models} model(s) x {items} item(s)."


def _why_no_split(profile: pd.DataFrame, what: str) -> str | None:
    """Why the family's seed grid cannot split an item's variance, or None when it can."""
    seeds = profile.index.get_level_values(SEED_LEVEL) if SEED_LEVEL in (profile.index.names or ()) else None
    if seeds is None or pd.isna(seeds).any():
        missing = len(profile) if seeds is None else int(pd.isna(seeds).sum())
        return NO_RUN_SEEDS.format(what=what, k=missing)
    counts = pd.Series(np.asarray(seeds)).value_counts()
    if len(counts) < 2:
        return ONE_SEED.format(what=what, n=len(profile), k=len(counts))
    if counts.max() < 2:
        return NO_REPLICATES.format(what=what)
    return None


def _check_profile(profile: pd.DataFrame, what: str) -> None:
    x = profile.to_numpy(dtype=float)  # (n_models, n_items)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise UsageError(FEW_ITEMS.format(what=what, models=x.shape[0], items=x.shape[1] if x.ndim == 2 else 0))
    check_finite(x, what=what, labels=lambda i: f"model {plain(profile.index[i // x.shape[1]])!r}, "
                                                f"item {plain(profile.columns[i % x.shape[1]])!r}")


def _share(between: float | None, within: float | None) -> float | None:
    if between is None or within is None or between + within <= 0.0:
        return None
    return float(between / (between + within))


NO_SHARE_INTERVAL = ("ICC interval [{low:.3g}, {high:.3g}] lies wholly below 0: runs of one pretraining seed differ more "
                     "than runs of different seeds, which the one-way model cannot produce; the share 0 is a "
                     "truncation, not a measurement")


def share_interval(icc_ci95: list | None) -> tuple[list | None, str | None]:
    """``(share_ci95, share_note)``: the ICC's interval clipped to [0, 1], or ``(None, why)`` when it is wholly below 0.

    >>> share_interval([-0.2, 0.4]), share_interval([-0.5, -0.1])[0]
    (([0.0, 0.4], None), None)
    """
    if icc_ci95 is None:
        return None, None
    low, high = (float(v) for v in icc_ci95)
    if high < 0.0:
        return None, NO_SHARE_INTERVAL.format(low=low, high=high)
    return [min(max(low, 0.0), 1.0), min(high, 1.0)], None


def _item_split(values: pd.Series, splittable: bool, what: str) -> tuple[float | None, float | None, list | None]:
    """(between_var, within_var, the ICC's F-based interval) of one item; Nones when the family cannot split; (0, 0,
    None) for a constant item."""
    if not splittable:
        return None, None, None
    if np.ptp(values.to_numpy(dtype=float)) == 0:
        return 0.0, 0.0, None
    share = seed_share(values, what=what)
    return float(share["between_var"]), float(share["within_var"]), share["icc_ci95"]


def item_variances(profile: pd.DataFrame, *, what: str = "items") -> pd.DataFrame:
    """Per item (rows, in ``profile``'s column order): ``variance`` across models (ddof 1), ``between_var``,
    ``within_var``, ``share_between`` (NaN where the family cannot split) and ``share_ci95`` (None then), ``n_models``,
    ``n_seeds``.

    >>> index = pd.MultiIndex.from_product([[0, 1], [0, 1]], names=["pretrain_seed", "finetune_seed"])
    >>> table = item_variances(pd.DataFrame({"a": [0.0, 0.0, 1.0, 1.0], "b": [0.0, 1.0, 0.0, 1.0]}, index=index))
    >>> table[["between_var", "within_var", "share_between"]].round(3).to_dict("index")
    {'a': {'between_var': 0.5, 'within_var': 0.0, 'share_between': 1.0}, 'b': {'between_var': 0.0, 'within_var': 0.5, 'share_between': 0.0}}
    """
    _check_profile(profile, what)
    splittable = _why_no_split(profile, what) is None
    seeds = (profile.index.get_level_values(SEED_LEVEL) if SEED_LEVEL in (profile.index.names or ())
             else pd.Index([np.nan] * len(profile)))
    n_seeds = int(pd.Series(np.asarray(seeds)).dropna().nunique())
    rows = []
    for item in profile.columns:
        values = profile[item]
        between, within, icc_interval = _item_split(values, splittable, f"{what} {item}")
        interval, note = share_interval(icc_interval)
        rows.append({"item": str(item), "variance": float(np.var(values.to_numpy(dtype=float), ddof=1)),
                     "between_var": np.nan if between is None else between,
                     "within_var": np.nan if within is None else within,
                     "share_between": np.nan if _share(between, within) is None else _share(between, within),
                     "share_ci95": interval, "icc_ci95": icc_interval, "share_note": note,
                     "n_models": len(profile), "n_seeds": n_seeds})
    return pd.DataFrame(rows).set_index("item")


def group_variances(items: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Items' numbers averaged per group (``groups``: the group of each item, indexed like ``items``), with
    ``share_between`` recomputed from the mean parts and ``n_items``."""
    table = items[["variance", "between_var", "within_var"]].groupby(groups.reindex(items.index).astype(str),
                                                                       sort=False).mean()
    table["share_between"] = [np.nan if _share(b, w) is None else _share(b, w) for b, w in
                              zip(_optional(table["between_var"]), _optional(table["within_var"]))]
    table["n_items"] = groups.reindex(items.index).astype(str).value_counts().reindex(table.index).to_numpy()
    table["n_models"] = int(items["n_models"].iloc[0])
    table["n_seeds"] = int(items["n_seeds"].iloc[0])
    table.index.name = "item"
    return table


def _optional(column: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in column]


def ranked(table: pd.DataFrame, top: int) -> pd.DataFrame:
    """The ``top`` rows with the largest ``variance``; ties keep the table's order."""
    return table.sort_values("variance", ascending=False, kind="stable").head(top)


def _rows(table: pd.DataFrame, name: str) -> list[dict]:
    rows = []
    for label, row in table.iterrows():
        entry = {name: str(label)}
        for column in ("variance", "between_var", "within_var", "share_between"):
            entry[column] = None if pd.isna(row[column]) else float(row[column])
        for column in ("share_ci95", "icc_ci95"):
            if column in row.index:
                entry[column] = None if row[column] is None else [float(v) for v in row[column]]
        if isinstance(row.get("share_note"), str):
            entry["share_note"] = row["share_note"]
        entry.update({c: int(row[c]) for c in ("n_items", "n_models", "n_seeds") if c in row.index})
        rows.append(entry)
    return rows


def _trust(split_reason: str | None, n_seeds: int) -> dict:
    if split_reason is not None:
        return {"split": CANNOT_TELL, "reason": split_reason, "reliable": False}
    entry = {"split": SPLIT_MADE, "reliable": n_seeds >= MIN_TRUSTED_SEEDS}
    if not entry["reliable"]:
        entry["reliability_note"] = FEW_SEEDS_NOTE.format(k=n_seeds, need=MIN_TRUSTED_SEEDS)
    return entry


def unstable_items(profile: pd.DataFrame, labels: pd.DataFrame | None = None, *, top: int = DEFAULT_TOP,
                   what: str = "items") -> dict:
    """The analysis.json entry of one test: how many models, seeds and items the numbers rest on, whether the split
    was made (``split``: ``made`` or ``cannot tell`` with its ``reason``), ``reliable`` and the ``top`` most unstable
    ``items``, and ``templates`` / ``occupations`` where ``labels`` (one row per item) has those columns."""
    top = check_count("top", top)
    table = item_variances(profile, what=what)
    n_seeds = int(table["n_seeds"].iloc[0])
    entry = {"n_models": len(profile), "n_seeds": n_seeds, "n_items": len(table),
             **_trust(_why_no_split(profile, what), n_seeds), "items": _rows(ranked(table, top), "item")}
    for key, column in GROUPS:
        if labels is not None and column in labels.columns:
            grouped = group_variances(table, labels[column].set_axis(labels.index.astype(str)))
            entry[key] = _rows(ranked(grouped, top), column.removesuffix("_id"))
    return entry
