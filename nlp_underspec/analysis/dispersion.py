"""Spread of a metric across a family of seeds, and how much wider a stress metric spreads than an iid metric.

D'Amour et al. (2020) show that models with near-identical iid scores differ widely on stress tests; the ratio of
standard deviations (stress / iid) puts a number on it. Standard deviations are sample ones (ddof=1). Their 95% intervals
come from a family bootstrap that resamples whole pretraining seeds (runs of one seed are not independent) when the
family has at least 2, else single models; each carries how many distinct resamples its units allow and whether that is
enough for a trustworthy interval (``reliable``: 3 seeds give 10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import (
    check_count,
    cluster_resamples,
    default_generator,
    finite_series,
    percentile_interval,
    resampling_reliability,
    resampling_units,
    stacked_by_length,
)
from nlp_underspec.errors import UsageError

FEW_RUNS = "{what}: a spread needs at least 2 runs, found {n}."
IID_CONSTANT = ("{iid} is {value:g} for all {n} shared runs: the ratio of {stress}'s spread to it is undefined. Compare "
                "with an iid metric that varies.")
NO_SHARED_RUNS = "{stress} and {iid} share {n} run(s); a spread ratio needs at least 2 runs with both."


def spread(values: pd.Series, *, nboot: int = 1000, rng, what: str = "values") -> dict:
    """``n, mean, std, min, max`` of one value per run, with ``std_ci95`` from the family bootstrap.

    >>> index = pd.MultiIndex.from_product([[0, 1], [0, 1]], names=["pretrain_seed", "finetune_seed"])
    >>> result = spread(pd.Series([0.2, 0.4, 0.3, 0.5], index=index), rng=0)
    >>> result["n"], round(result["mean"], 2), round(result["std"], 3), result["resampled"]
    (4, 0.35, 0.129, 'pretrain_seed')
    """
    nboot = check_count("nboot", nboot)
    series = finite_series(values, what=what)
    if len(series) < 2:
        raise UsageError(FEW_RUNS.format(what=what, n=len(series)))
    x = series.to_numpy()
    units, unit_name = resampling_units(series.index)
    resamples = cluster_resamples(units, nboot=nboot, generator=default_generator(rng))
    stds = np.concatenate([np.std(x[stack], axis=1, ddof=1) for stack in stacked_by_length(resamples)
                           if stack.shape[1] > 1])
    return {"n": len(x), "mean": float(x.mean()), "std": float(np.std(x, ddof=1)), "min": float(x.min()),
            "max": float(x.max()), "std_ci95": percentile_interval(stds, 0.95), "resampled": unit_name,
            **resampling_reliability(len(np.unique(units)), unit_name)}


def spread_ratio(stress: pd.Series, iid: pd.Series, *, nboot: int = 1000, rng, stress_name: str = "stress",
                 iid_name: str = "iid") -> dict:
    """std(stress) / std(iid) over the runs that have both, with a 95% family-bootstrap interval.

    >>> index = pd.Index(["a", "b", "c", "d"], name="model")
    >>> ratio = spread_ratio(pd.Series([0.1, 0.5, 0.3, 0.9], index=index), pd.Series([0.80, 0.81, 0.79, 0.80], index=index), rng=0)
    >>> round(ratio["ratio"]), ratio["n"]
    (42, 4)
    """
    nboot = check_count("nboot", nboot)
    stress = finite_series(stress, what=stress_name)
    iid = finite_series(iid, what=iid_name)
    both = pd.concat([stress.rename("stress"), iid.rename("iid")], axis=1, join="inner")
    if len(both) < 2:
        raise UsageError(NO_SHARED_RUNS.format(stress=stress_name, iid=iid_name, n=len(both)))
    s, i = both["stress"].to_numpy(), both["iid"].to_numpy()
    if np.ptp(i) == 0:
        raise UsageError(IID_CONSTANT.format(iid=iid_name, value=i[0], n=len(i), stress=stress_name))
    units, unit_name = resampling_units(both.index)
    ratios = []
    for stack in stacked_by_length(cluster_resamples(units, nboot=nboot, generator=default_generator(rng))):
        if stack.shape[1] > 1:
            iid_std = np.std(i[stack], axis=1, ddof=1)  # (n_resamples,)
            ratios.append(np.std(s[stack], axis=1, ddof=1)[iid_std > 0] / iid_std[iid_std > 0])
    ratios = np.concatenate(ratios) if ratios else np.array([])
    return {"ratio": float(np.std(s, ddof=1) / np.std(i, ddof=1)), "ci95": percentile_interval(ratios, 0.95),
            "n": len(both), "resampled": unit_name, **resampling_reliability(len(np.unique(units)), unit_name)}
