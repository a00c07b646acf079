"""analysis.json's ``calibration``: did each pretrained checkpoint learn the statistic, do its descendants inherit it?

Per checkpoint (scores.parquet's ``calibration`` rows of the pretrained population; the target, ``planted`` or
``bls``, from the predictions triplet's label_info): the calibration slope, its 95% interval over occupations and
``learned`` (the interval lies above 0; otherwise the checkpoint "did not learn the statistic"). Across checkpoints:
how many learnt it, the slopes' min, max and mean, and whether the pretraining seeds differ: some pair of checkpoints
whose slope intervals are disjoint (a conservative reading: overlapping intervals do not show two slopes are equal).

A family has one checkpoint per pretraining seed, so the slope itself has no pretraining-seed share (an ICC needs
replicates within a seed). Its share here is *inheritance*: over pretraining seeds, the parent's slope against the mean
of its fine-tuned descendants' stress metric over their fine-tuning seeds, as Spearman rho (and Pearson r) with a
permutation p-value (all n! orderings up to :data:`EXACT_MAX` seeds, else Monte Carlo from a seeded generator) and a
seed-resampling interval that carries the few-seed reliability marks. A checkpoint and the models fine-tuned from it
(the same pretraining seed) are one lineage, the fine-tuned networks start from the checkpoint's weights, so relating
their numbers is a legitimate pairing: the one-network rule forbids relating numbers of unrelated networks (an stsb
model's dev score with a coref model's bias), not a parent with its own children. The noise floor still applies: a
descendant test's signal metrics are related only when none of its fine-tuned models is below the floor.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import (
    MODEL_LEVEL,
    RUN_LEVEL,
    SEED_LEVEL,
    check_count,
    default_generator,
    populations,
)
from nlp_underspec.analysis.correlation import rank_correlation
from nlp_underspec.analysis.family import AnalysisInputs, MetricValues
from nlp_underspec.analysis.registered import headline_metrics, inheritance_first
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.examples import pearson_r

TEST = "calibration"
SLOPE_KEY = "calibration/slope"  # how messages name the parents' side of an inheritance statement
LEARNT = "learnt the statistic"
NOT_LEARNT = "did not learn the statistic"
MIN_SEEDS = 3  # a rank correlation over fewer pretraining seeds says nothing (iid_vs_stress needs 3 too)
EXACT_MAX = 8  # up to 8! = 40,320 orderings the permutation test enumerates them all
ALPHA = 0.05
TIE_TOLERANCE = 1e-12  # a permuted rho equal to the observed one, up to float error, counts as "as large"
DIFFER_METHOD = ("some pair of checkpoints has disjoint 95% slope intervals (conservative: overlapping intervals do "
                 "not show that two slopes are equal)")
ALTERNATIVE = "greater"  # a parent that learnt more of the statistic has children that score higher

NO_CALIBRATION = ("no calibration scores of pretrained checkpoints in this family (a sweep scores every pretrained "
                  "checkpoint on calibration; for other checkpoints: `nlp-underspec evaluate CHECKPOINT --tests "
                  "calibration`)")
FEW_SEEDS = ("calibration inheritance needs at least {need} pretraining seeds whose checkpoint has a calibration slope "
             "and fine-tuned descendants, found {n}{seeds}: a rank correlation over fewer says nothing")
NO_FINETUNED = ("no fine-tuned stress metric in this family: there is no descendant whose inheritance of the "
                "calibration slope could be measured")
SHARED_SEED = ("calibration inheritance: checkpoints {models} share pretraining seed {seed}, so their descendants' "
               "parent is ambiguous")
FEW_ORDERINGS = ("with {n} pretraining seeds only {orderings} orderings exist: the smallest attainable p is {min_p}, "
                 "so this test cannot reach p < {alpha:g}")
NOTHING_LEARNT = ("no checkpoint learnt the statistic (every slope interval reaches 0 or lies below it): the slopes "
                  "differ by probe noise, so a correlation with them is expected to be chance")


def _float(value) -> float | None:
    return float(value) if value is not None and not pd.isna(value) and math.isfinite(float(value)) else None


def _seed(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _references(family: AnalysisInputs) -> dict[str, str]:
    """Each scored model's target (``planted`` or ``bls``), from the calibration triplet's label_info."""
    triplet = family.triplets.get(TEST)
    if triplet is None or "reference" not in triplet.label_info.columns or not len(triplet.label_info):
        return {}
    reference = str(triplet.label_info["reference"].iloc[0])  # one target for all items, and all models, of a triplet
    return {str(model): reference for model in triplet.run_info["model"]}


def _checkpoint_rows(family: AnalysisInputs) -> pd.DataFrame:
    """One row per calibrated pretrained checkpoint (model, seeds, one column per summary metric), by seed then name."""
    rows = family.scores[(family.scores["test"] == TEST) & family.scores["occupation"].isna()]
    rows = rows[populations(rows) == "pretrained"]
    if rows.empty or "slope" not in set(rows["metric"]):
        raise UsageError(NO_CALIBRATION)
    table = rows.pivot_table(index=MODEL_LEVEL, columns="metric", values="value", aggfunc="first")
    seeds = rows.drop_duplicates(MODEL_LEVEL).set_index(MODEL_LEVEL)[SEED_LEVEL]
    table[SEED_LEVEL] = seeds.reindex(table.index)
    table = table[table["slope"].notna()].reset_index()
    def order(i: int):  # by pretraining seed, checkpoints without one last, then by name
        seed = _seed(table.loc[i, SEED_LEVEL])
        return seed is None, seed or 0, str(table.loc[i, MODEL_LEVEL])

    return table.iloc[sorted(range(len(table)), key=order)].reset_index(drop=True)


def _checkpoint_entry(row: pd.Series, reference: str | None) -> dict:
    low, high = _float(row.get("ci95_low")), _float(row.get("ci95_high"))
    ci = [low, high] if low is not None and high is not None else None
    flag = _float(row.get("learned"))
    # The scorer's flag is the record; scores written without it are judged by the same rule (interval above 0).
    learned = bool(flag > 0.5) if flag is not None else bool(ci is not None and ci[0] > 0)
    n = _float(row.get("n_occupations"))
    return {"pretrain_seed": _seed(row[SEED_LEVEL]), "slope": float(row["slope"]), "ci95": ci, "learned": learned,
            "reference": reference, "r": _float(row.get("r")), "intercept": _float(row.get("intercept")),
            "n_occupations": None if n is None else int(n)}


def disjoint_pairs(checkpoints: dict[str, dict]) -> list[list[str]]:
    """Pairs of checkpoints whose slope intervals do not overlap, in checkpoint order.

    >>> disjoint_pairs({"p00": {"ci95": [0.0, 0.1]}, "p01": {"ci95": [0.2, 0.3]}, "p02": {"ci95": [0.05, 0.25]}})
    [['p00', 'p01']]
    """
    named = [(name, entry["ci95"]) for name, entry in checkpoints.items() if entry.get("ci95")]
    return [[a, b] for (a, ca), (b, cb) in itertools.combinations(named, 2) if ca[1] < cb[0] or cb[1] < ca[0]]


def checkpoint_calibration(family: AnalysisInputs) -> dict:
    """The per-checkpoint part of the block: ``checkpoints``, the counts, the spread of slopes and whether seeds differ.

    Raises UsageError (:data:`NO_CALIBRATION`) when no pretrained checkpoint has a calibration slope.
    """
    table = _checkpoint_rows(family)
    references = _references(family)
    checkpoints = {str(row[MODEL_LEVEL]): _checkpoint_entry(row, references.get(str(row[MODEL_LEVEL])))
                   for _, row in table.iterrows()}
    slopes = np.array([entry["slope"] for entry in checkpoints.values()])
    learned = [name for name, entry in checkpoints.items() if entry["learned"]]
    kinds = sorted({entry["reference"] for entry in checkpoints.values() if entry["reference"] is not None})
    with_ci = sum(1 for entry in checkpoints.values() if entry["ci95"])
    pairs = disjoint_pairs(checkpoints)
    return {"test": TEST, "population": "pretrained",
            "reference": kinds[0] if len(kinds) == 1 else (kinds or None),
            "checkpoints": checkpoints, "n_checkpoints": len(checkpoints), "n_learned": len(learned),
            "learned": learned, "not_learned": [name for name in checkpoints if name not in learned],
            "slopes": {"n": len(slopes), "min": float(slopes.min()), "max": float(slopes.max()),
                       "mean": float(slopes.mean()), "range": float(np.ptp(slopes))},
            "seeds_differ": bool(pairs) if with_ci >= 2 else None, "disjoint_pairs": pairs,
            "seeds_differ_method": DIFFER_METHOD}


# ------------------------------------------------------------------------------------------------------ inheritance


def parent_slopes(block: dict) -> pd.Series:
    """The checkpoints' slopes indexed by pretraining seed (checkpoints without one cannot be anyone's parent)."""
    by_seed: dict[int, list[str]] = {}
    for name, entry in block["checkpoints"].items():
        if entry["pretrain_seed"] is not None:
            by_seed.setdefault(entry["pretrain_seed"], []).append(name)
    for seed, names in by_seed.items():
        if len(names) > 1:
            raise UsageError(SHARED_SEED.format(models=", ".join(names), seed=seed))
    seeds = sorted(by_seed)
    return pd.Series([block["checkpoints"][by_seed[s][0]]["slope"] for s in seeds],
                     index=pd.Index(seeds, name=SEED_LEVEL), name=SLOPE_KEY, dtype=float)


def descendant_metrics(family: AnalysisInputs) -> list[MetricValues]:
    """The fine-tuned population's stress metrics, the tests marked ``inheritance_first`` first, each test's headline
    metrics first."""
    metrics = [m for m in family.metrics if m.population == "finetuned" and m.kind == "stress"]

    def order(metric: MetricValues):
        headline = headline_metrics(metric.test)
        rank = headline.index(metric.metric) if metric.metric in headline else len(headline)
        return (not inheritance_first(metric.test), metric.test, rank, metric.metric)

    return sorted(metrics, key=order)


def children_means(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Mean of a fine-tuned metric over each pretraining seed's fine-tuning seeds, and how many runs each mean has."""
    frame = pd.DataFrame({"seed": values.index.get_level_values(SEED_LEVEL), "value": values.to_numpy(dtype=float)})
    frame = frame[frame["seed"].notna()]
    grouped = frame.groupby(frame["seed"].astype(int))["value"]
    means, counts = grouped.mean(), grouped.size()
    means.index.name = counts.index.name = SEED_LEVEL
    return means, counts


def _orderings(n: int, *, nperm: int, rng) -> tuple[np.ndarray, bool]:
    """Every ordering of n seeds (n <= EXACT_MAX), else ``nperm`` random ones; (orderings, exact)."""
    if n <= EXACT_MAX:
        return np.array(list(itertools.permutations(range(n))), dtype=np.int64), True
    generator = default_generator(rng)
    return generator.permuted(np.tile(np.arange(n), (nperm, 1)), axis=1), False


def permutation_test(x, y, *, nperm: int = 1000, rng=0) -> dict:
    """Permutation test of Spearman rho between paired ``x`` and ``y`` (one pair per pretraining seed).

    ``p_value`` is one-sided (rho at least the observed one: the parent's slope and its children's metric rise
    together), ``p_two_sided`` counts |rho| at least the observed one. Exact over all n! orderings when n <=
    :data:`EXACT_MAX` (``p`` = share of orderings), else ``nperm`` Monte Carlo orderings (``p`` = (1 + count) /
    (1 + nperm)). ``min_p`` is the smallest one-sided p the test can give.

    >>> result = permutation_test([0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0])
    >>> result["p_value"] == 1 / 24, result["p_two_sided"] == 2 / 24, result["n_permutations"], result["exact"]
    (True, True, 24, True)
    """
    import scipy.stats

    nperm = check_count("nperm", nperm)
    rx, ry = scipy.stats.rankdata(x), scipy.stats.rankdata(y)
    observed = float(pearson_r(rx, ry))
    orders, exact = _orderings(len(rx), nperm=nperm, rng=rng)
    rhos = pearson_r.rowwise(np.broadcast_to(rx, orders.shape), ry[orders])  # (n_orderings,)
    greater = int(np.sum(rhos >= observed - TIE_TOLERANCE))
    either = int(np.sum(np.abs(rhos) >= abs(observed) - TIE_TOLERANCE))
    total = len(orders)
    if exact:
        p_value, p_two, min_p = greater / total, either / total, 1 / total
    else:
        p_value, p_two, min_p = (1 + greater) / (1 + total), (1 + either) / (1 + total), 1 / (1 + total)
    return {"p_value": p_value, "alternative": ALTERNATIVE, "p_two_sided": p_two, "n_permutations": total,
            "exact": exact, "min_p": min_p}


def inheritance(slopes: pd.Series, children: pd.Series, *, nboot: int = 1000, rng=0, child_name: str = "metric",
                nothing_learnt: bool = False) -> dict:
    """The parents' calibration slopes (indexed by pretraining seed) against the mean of their children's ``children``
    (indexed by model, pretrain_seed, finetune_seed) over fine-tuning seeds: Spearman rho with a seed-resampling
    interval (and its reliability marks), Pearson r, and a permutation p-value (:func:`permutation_test`).

    Raises UsageError with fewer than :data:`MIN_SEEDS` shared pretraining seeds, or a side that does not vary.
    """
    means, counts = children_means(children)
    seeds = sorted(set(slopes.index) & set(means.index))
    if len(seeds) < MIN_SEEDS:
        shown = f" ({', '.join(map(str, seeds))})" if seeds else ""
        raise UsageError(FEW_SEEDS.format(need=MIN_SEEDS, n=len(seeds), seeds=shown))
    index = pd.Index(seeds, name=SEED_LEVEL)
    x, y = slopes.reindex(index), means.reindex(index)
    mean_name = f"{child_name} (mean over fine-tuning seeds)"
    correlation = rank_correlation(x, y, nboot=nboot, rng=rng, x_name=SLOPE_KEY, y_name=mean_name)
    test = permutation_test(x.to_numpy(), y.to_numpy(), nperm=nboot, rng=rng)
    entry = {"n_seeds": len(seeds), "pretrain_seeds": [int(s) for s in seeds],
             "finetune_runs": {"min": int(counts.reindex(index).min()), "max": int(counts.reindex(index).max())},
             "spearman": correlation["spearman"], "ci95": correlation["ci95"],
             "pearson": float(pearson_r(x.to_numpy(), y.to_numpy())), **test,
             **{k: v for k, v in correlation.items() if k not in ("spearman", "ci95", "n")},
             "per_seed": [{"pretrain_seed": int(s), "slope": float(x[s]), "children_mean": float(y[s]),
                           "n_children": int(counts[s])} for s in seeds]}
    if test["min_p"] > ALPHA:
        orderings = math.factorial(len(seeds)) if test["exact"] else test["n_permutations"]
        entry["p_note"] = FEW_ORDERINGS.format(n=len(seeds), orderings=orderings, min_p=f"{test['min_p']:.3g}",
                                               alpha=ALPHA)
    if nothing_learnt:
        entry["note"] = NOTHING_LEARNT
    return entry


def lineage_seeds(block: dict, family: AnalysisInputs) -> list[int]:
    """Pretraining seeds that have both a calibrated checkpoint and at least one fine-tuned descendant."""
    parents = {entry["pretrain_seed"] for entry in block["checkpoints"].values() if entry["pretrain_seed"] is not None}
    rows = family.scores[family.scores[RUN_LEVEL].notna() & family.scores[SEED_LEVEL].notna()]
    children = {int(s) for s in rows[SEED_LEVEL].unique()}
    return sorted(parents & children)


def check_lineages(block: dict, family: AnalysisInputs) -> list[MetricValues]:
    """The descendant metrics to relate, or UsageError when the family cannot support any inheritance statement."""
    metrics = descendant_metrics(family)
    if not metrics:
        raise UsageError(NO_FINETUNED)
    seeds = lineage_seeds(block, family)
    if len(seeds) < MIN_SEEDS:
        shown = f" ({', '.join(map(str, seeds))})" if seeds else ""
        raise UsageError(FEW_SEEDS.format(need=MIN_SEEDS, n=len(seeds), seeds=shown))
    parent_slopes(block)  # refuses checkpoints that share a seed before any metric is related
    return metrics
