"""How much of a metric's spread the pretraining seed explains: one-way random effects, and the MultiBERTs regroup test.

Runs are nested in pretraining seeds (fine-tuning seeds within each). The one-way random-effects model
``x_ij = mu + a_i + e_ij`` splits the variance into between-seed ``var(a)`` and within-seed ``var(e)``; the intraclass
correlation ``ICC(1) = var(a) / (var(a) + var(e))`` is the share of a single run's variance that its pretraining seed
explains, with the F-based interval of Shrout & Fleiss (1979) (``n0`` replaces the group size when seeds have different
numbers of runs; the interval is then approximate). The regroup test (Sellam et al. 2022) asks the same question without
a model: is the standard deviation of the per-seed means larger than when the runs are shuffled into groups of the same
sizes? Inputs are Series indexed by (at least) a ``pretrain_seed`` level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from nlp_underspec.analysis._common import (
    check_count,
    default_generator,
    finite_series,
    percentile_interval,
    seed_labels,
)
from nlp_underspec.errors import UsageError

FEW_SEEDS = ("{what}: a pretraining-seed share needs at least 2 pretraining seeds, found {n}{seeds}. Add runs with other "
             "pretraining seeds, or leave this statement out.")
NO_REPLICATES = ("{what}: within-seed variance needs a pretraining seed with 2 or more runs (fine-tuning seeds), but "
                 "every seed has one run. Add fine-tuning seeds, or leave this statement out.")
CONSTANT = "{what} is {value:g} for every run: there is no variance to split."
# Neither statement resamples seeds, so neither suffers from the few distinct resamples of a bootstrap over k seeds:
# the ICC's interval is analytic (its width reflects k honestly) and the regroup test's p-value is exact in law.
ICC_INTERVAL = "F-based (Shrout & Fleiss 1979): analytic, no resampling"
REGROUP_METHOD = "permutation"
_Z = 0.95  # the contract's intervals are 95%


def _groups(values: pd.Series, *, what: str) -> tuple[np.ndarray, list[np.ndarray], list]:
    """Values and, per pretraining seed (sorted), the positions of its runs; checks shared by both statements."""
    series = finite_series(values, what=what)
    labels = seed_labels(series, what=what)
    seeds = sorted(pd.unique(labels))
    if len(seeds) < 2:
        shown = f" ({', '.join(map(str, seeds))})" if seeds else ""
        raise UsageError(FEW_SEEDS.format(what=what, n=len(seeds), seeds=shown))
    positions = [np.flatnonzero(labels == seed) for seed in seeds]
    if max(len(p) for p in positions) < 2:
        raise UsageError(NO_REPLICATES.format(what=what))
    x = series.to_numpy(dtype=float)
    if np.ptp(x) == 0:
        raise UsageError(CONSTANT.format(what=what, value=x[0]))
    return x, positions, seeds


def seed_share(values: pd.Series, *, what: str = "values") -> dict:
    """One-way random-effects split of ``values`` (one per run) over pretraining seeds.

    Returns ``n_seeds``, ``n_runs``, ``between_var`` (truncated at 0), ``within_var``, ``icc`` (may be negative when
    seeds differ less than chance would make them), ``icc_ci95``, the ANOVA ``f`` and its ``p_value``.

    >>> index = pd.MultiIndex.from_product([[0, 1, 2], [0, 1]], names=["pretrain_seed", "finetune_seed"])
    >>> share = seed_share(pd.Series([0.10, 0.12, 0.50, 0.52, 0.90, 0.88], index=index))
    >>> share["n_seeds"], round(share["icc"], 3), share["icc_ci95"][0] > 0.9
    (3, 0.999, True)
    """
    x, positions, _ = _groups(values, what=what)
    sizes = np.array([len(p) for p in positions], dtype=float)
    k, n = len(positions), len(x)
    means = np.array([x[p].mean() for p in positions])
    grand = x.mean()
    ms_between = float(np.sum(sizes * (means - grand) ** 2) / (k - 1))
    ms_within = float(sum(np.sum((x[p] - m) ** 2) for p, m in zip(positions, means)) / (n - k))
    n0 = (n - np.sum(sizes**2) / n) / (k - 1)  # effective runs per seed (= runs per seed when balanced)
    between = max((ms_between - ms_within) / n0, 0.0)
    icc, interval, f_stat, p_value = _icc_with_interval(ms_between, ms_within, n0, k - 1, n - k)
    return {"n_seeds": k, "n_runs": n, "between_var": between, "within_var": ms_within, "icc": icc,
            "icc_ci95": interval, "icc_ci95_method": ICC_INTERVAL, "f": f_stat, "p_value": p_value,
            "df": [k - 1, n - k]}


def _icc_with_interval(msb: float, msw: float, n0: float, df1: int, df2: int):
    if msw == 0.0:  # runs of a seed agree exactly: the seed explains everything
        return 1.0, [1.0, 1.0], float("inf"), 0.0
    f_stat = msb / msw
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    f_low = f_stat / scipy.stats.f.ppf(1 - (1 - _Z) / 2, df1, df2)
    f_high = f_stat * scipy.stats.f.ppf(1 - (1 - _Z) / 2, df2, df1)
    interval = [float((f_low - 1) / (f_low + n0 - 1)), float(min((f_high - 1) / (f_high + n0 - 1), 1.0))]
    return float(icc), interval, float(f_stat), float(scipy.stats.f.sf(f_stat, df1, df2))


def regroup_test(values: pd.Series, *, nperm: int = 1000, rng, what: str = "values") -> dict:
    """Std (ddof=1) of the per-seed means vs its distribution when runs are shuffled into groups of the same sizes.

    ``p_value`` = (1 + #{null >= observed}) / (1 + nperm), a valid permutation p-value; ``null_ci95`` is the central
    95% of the null. ``rng``: an int seed or a ``numpy.random.Generator``.

    >>> index = pd.MultiIndex.from_product([range(4), range(3)], names=["pretrain_seed", "finetune_seed"])
    >>> values = pd.Series(np.repeat([0.1, 0.4, 0.2, 0.7], 3) + np.tile([0.0, 0.01, -0.01], 4), index=index)
    >>> test = regroup_test(values, nperm=200, rng=0)
    >>> test["observed_std"] > test["null_ci95"][1], test["p_value"] < 0.05
    (True, True)
    """
    nperm = check_count("nperm", nperm)
    x, positions, _ = _groups(values, what=what)
    generator = default_generator(rng)
    membership = np.zeros((len(x), len(positions)))  # (n_runs, n_seeds): averaging weights of each seed's runs
    for k, p in enumerate(positions):
        membership[p, k] = 1.0 / len(p)
    observed = float(np.std(x @ membership, ddof=1))
    shuffled = generator.permuted(np.tile(x, (nperm, 1)), axis=1)  # (nperm, n_runs)
    null = np.std(shuffled @ membership, axis=1, ddof=1)  # (nperm,)
    tolerance = 1e-12 * max(abs(observed), 1.0)  # equal regroupings must count as "as large"
    exceed = int(np.sum(null >= observed - tolerance))
    return {"observed_std": observed, "null_mean": float(null.mean()), "null_ci95": percentile_interval(null, _Z),
            "p_value": (1 + exceed) / (1 + nperm), "nperm": nperm, "method": REGROUP_METHOD}
