"""Does iid skill predict stress-test behaviour? Spearman correlation across the runs of a family, with a 95% interval.

D'Amour et al. (2020) find that accuracy barely predicts gendered correlation: models that look the same on the iid test
set are not the same on the stress test. The interval comes from the family bootstrap (whole pretraining seeds resampled
when the family has at least 2, else models); resamples in which either metric is constant have no rank correlation
and are dropped. Like every seed-resampling interval it says how many distinct resamples were possible (``reliable``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import (check_count, cluster_resamples, default_generator, finite_series,
                                            percentile_interval, resampling_reliability, resampling_units,
                                            stacked_by_length)
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.examples import spearman_r

FEW_SHARED = "{x} and {y} share {n} run(s); a rank correlation needs at least 3 runs with both."
CONSTANT_METRIC = "{name} is {value:g} for every shared run: its rank correlation with {other} is undefined."


def rank_correlation(x: pd.Series, y: pd.Series, *, nboot: int = 1000, rng, x_name: str = "x",
                     y_name: str = "y") -> dict:
    """Spearman rho of ``x`` and ``y`` over the runs (index entries) they share, ``ci95``, ``n`` and the resampled unit.

    >>> index = pd.MultiIndex.from_product([range(3), range(3)], names=["pretrain_seed", "finetune_seed"])
    >>> acc = pd.Series([0.80, 0.81, 0.82, 0.79, 0.83, 0.80, 0.81, 0.82, 0.80], index=index)
    >>> result = rank_correlation(acc, acc * 2, rng=0)
    >>> result["spearman"], result["n"], result["resampled"]
    (1.0, 9, 'pretrain_seed')
    """
    nboot = check_count("nboot", nboot)
    both = pd.concat([finite_series(x, what=x_name).rename("x"), finite_series(y, what=y_name).rename("y")],
                     axis=1, join="inner")
    if len(both) < 3:
        raise UsageError(FEW_SHARED.format(x=x_name, y=y_name, n=len(both)))
    for column, name, other in (("x", x_name, y_name), ("y", y_name, x_name)):
        if np.ptp(both[column].to_numpy()) == 0:
            raise UsageError(CONSTANT_METRIC.format(name=name, value=both[column].iloc[0], other=other))
    xs, ys = both["x"].to_numpy(), both["y"].to_numpy()
    units, unit_name = resampling_units(both.index)
    resamples = cluster_resamples(units, nboot=nboot, generator=default_generator(rng))
    with np.errstate(invalid="ignore"):
        rhos = np.concatenate([spearman_r.rowwise(xs[stack], ys[stack]) for stack in stacked_by_length(resamples)])
    return {"spearman": float(spearman_r(xs, ys)), "ci95": percentile_interval(rhos, 0.95), "n": len(both),
            "resampled": unit_name, **resampling_reliability(len(np.unique(units)), unit_name)}
