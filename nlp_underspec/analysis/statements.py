"""``analysis.json``: every seed-analysis statement about one run folder, each with a number and a 95% interval.

Statements (issue 5): ``spread`` (per metric, and stress/iid spread ratios), ``seed_share`` (random-effects split and
regroup test), ``multibootstrap`` (CI of the family's macro-averaged score), ``iid_vs_stress`` (Spearman with CI),
``pca`` (of per-item deviations) and ``clustering`` (of per-occupation profiles vs pretraining seeds). A statement the
family cannot support (one pretraining seed, one run per seed, a constant metric...) is skipped with its reason,
inline and in the top-level ``skipped`` list; when the caller names statements explicitly (``strict``), the same
condition is an error instead. Every random draw comes from a stream derived from ``seed`` and the statement's subject,
so adding a metric does not change the numbers of another.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import SEED_LEVEL, check_count, percentile_interval
from nlp_underspec.analysis.bootstrap import family_bootstrap
from nlp_underspec.analysis.clustering import cluster_by_seed
from nlp_underspec.analysis.correlation import rank_correlation
from nlp_underspec.analysis.dispersion import spread, spread_ratio
from nlp_underspec.analysis.family import (
    Family,
    MetricValues,
    bootstrap_inputs,
    item_profiles,
    load_family,
    main_population,
    occupation_profiles,
    stress_tests,
)
from nlp_underspec.analysis.pca import deviation_pca
from nlp_underspec.analysis.variance import regroup_test, seed_share
from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_json
from nlp_underspec.seeding import derive_seed

logger = logging.getLogger(__name__)

ANALYSIS = "analysis.json"
SCHEMA_VERSION = 1
STATEMENTS = ("spread", "seed_share", "multibootstrap", "iid_vs_stress", "pca", "clustering")
UNKNOWN_STATEMENT = "Unknown statement '{name}'. Available: {available}."
NEEDS = {  # what each statement needs from the family, shown in the key table and the README
    "spread": ">= 2 models",
    "seed_share": ">= 2 pretraining seeds and a seed with >= 2 runs",
    "multibootstrap": ">= 2 models (seeds and/or examples to resample)",
    "iid_vs_stress": ">= 3 models with both metrics",
    "pca": ">= 2 models with per-item scores",
    "clustering": ">= 2 pretraining seeds and a seed with >= 2 runs",
}
NOTHING_TO_STATE = ("The family has nothing to compute '{statement}' on (it needs {need}, and for iid_vs_stress both an iid "
                    "and a stress metric; for pca/clustering a stress test with per-item or per-occupation scores).")
ONE_SEED_NO_EXAMPLES = ("{key}: one pretraining seed and no per-example predictions, so there is nothing to resample. "
                        "Add pretraining seeds or the predictions triplet.")


class _Statements:
    """Runs each statement, recording skips (or raising them when the statement was asked for explicitly)."""

    def __init__(self, *, strict: Iterable[str], seed: int):
        self.strict = set(strict)
        self.seed = seed
        self.skipped: list[dict] = []

    def rng(self, statement: str, subject: str) -> int:
        return derive_seed(self.seed, "analysis", statement, subject)

    def run(self, statement: str, subject: str, compute: Callable[..., dict], *args, **kwargs) -> dict:
        """``compute(*args, **kwargs)``; a UsageError becomes ``{"skipped": reason}`` unless the statement is strict."""
        try:
            return compute(*args, **kwargs)
        except UsageError as err:
            if statement in self.strict:
                raise
            self.skipped.append({"statement": statement, "subject": subject, "reason": str(err)})
            logger.debug("skipped %s for %s: %s", statement, subject, err)
            return {"skipped": str(err)}


def check_statements(names: Iterable[str]) -> tuple[str, ...]:
    names = tuple(names)
    for name in names:
        if name not in STATEMENTS:
            raise UsageError(UNKNOWN_STATEMENT.format(name=name, available=", ".join(STATEMENTS)))
    return names


def _multibootstrap_entry(family: Family, metric: MetricValues, *, nboot: int, rng: int) -> dict:
    inputs = bootstrap_inputs(family, metric)
    n_seeds = inputs.run_info["seed"].nunique()
    if inputs.unit is None and n_seeds < 2:
        raise UsageError(ONE_SEED_NO_EXAMPLES.format(key=metric.key))
    samples = family_bootstrap(run_info=inputs.run_info, preds=inputs.preds, labels=inputs.labels,
                               score_fn=inputs.score_fn, sample_seeds=n_seeds > 1,
                               sample_examples=inputs.unit is not None, nboot=nboot, rng=rng)
    resampled = ([inputs.seed_unit] if n_seeds > 1 else []) + ([inputs.unit] if inputs.unit else [])
    entry = {"mean": float(np.mean(samples)), "ci95": percentile_interval(samples, 0.95), "nboot": nboot,
             "n_seeds": int(n_seeds), "n_runs": len(inputs.run_info), "resampled": resampled}
    if inputs.note:
        entry["note"] = inputs.note
    return entry


def _seed_share_entry(metric: MetricValues, *, nperm: int, rng: int) -> dict:
    entry = seed_share(metric.values, what=metric.key)
    entry["regroup"] = regroup_test(metric.values, nperm=nperm, rng=rng, what=metric.key)
    return entry


def _metric_entry(family: Family, metric: MetricValues, runner: _Statements, statements, nboot: int) -> dict:
    entry = {"test": metric.test, "metric": metric.metric, "kind": metric.kind, "population": metric.population}
    if "spread" in statements:
        entry["spread"] = runner.run("spread", metric.key, spread, metric.values, nboot=nboot,
                                     rng=runner.rng("spread", metric.key), what=metric.key)
    if "seed_share" in statements:
        entry["seed_share"] = runner.run("seed_share", metric.key, _seed_share_entry, metric, nperm=nboot,
                                         rng=runner.rng("seed_share", metric.key))
    if "multibootstrap" in statements:
        entry["multibootstrap"] = runner.run("multibootstrap", metric.key, _multibootstrap_entry, family, metric,
                                             nboot=nboot, rng=runner.rng("multibootstrap", metric.key))
    return entry


def _pairs(metrics: list[MetricValues]) -> list[tuple[MetricValues, MetricValues]]:
    """(stress, iid) pairs within a population."""
    return [(s, i) for s in metrics if s.kind == "stress" for i in metrics
            if i.kind == "iid" and i.population == s.population]


def _pair_statements(metrics, runner: _Statements, statements, nboot: int) -> tuple[list, list]:
    ratios, correlations = [], []
    for stress, iid in _pairs(metrics):
        subject = f"{stress.key} vs {iid.key}"
        if "spread" in statements:
            result = runner.run("spread", subject, spread_ratio, stress.values, iid.values, nboot=nboot,
                                rng=runner.rng("spread_ratio", subject), stress_name=stress.key, iid_name=iid.key)
            if "skipped" not in result:
                ratios.append({"stress": stress.key, "iid": iid.key, **result})
        if "iid_vs_stress" in statements:
            result = runner.run("iid_vs_stress", subject, rank_correlation, iid.values, stress.values, nboot=nboot,
                                rng=runner.rng("iid_vs_stress", subject), x_name=iid.key, y_name=stress.key)
            if "skipped" not in result:
                correlations.append({"iid": iid.key, "stress": stress.key, **result})
    return ratios, correlations


def _no_profile(test: str) -> dict:
    raise UsageError(f"{test}: no per-item or per-occupation scores (predictions/{test} or occupation rows in "
                     "scores.parquet) to analyse.")


def _pca_entry(family: Family, test: str) -> dict:
    population = main_population(family, test)
    items, source = item_profiles(family, test, population)
    if items is None:
        return _no_profile(test)
    result = deviation_pca(items, n_components=2, what=f"{test} per-item scores").to_dict(top_k=5)
    return {"population": population, "source": source, **result}


def _clustering_entry(family: Family, test: str, *, nperm: int, rng: int) -> dict:
    population = main_population(family, test)
    profiles, source = occupation_profiles(family, test, population)
    if profiles is None:
        return _no_profile(test)
    result = cluster_by_seed(profiles, nperm=nperm, rng=rng, what=f"{test} per-occupation profiles")
    return {"population": population, "source": source, **result}


def _seed_list(values: pd.Series) -> list[int]:
    return sorted(int(v) for v in pd.unique(values.dropna()))


def analyze_family(family: Family, *, nboot: int = 1000, seed: int = 0, statements: Iterable[str] = STATEMENTS,
                   strict: Iterable[str] = ()) -> dict:
    """The analysis.json document of a loaded family (see the README's "Seed analysis" for every key)."""
    nboot = check_count("nboot", nboot)
    statements = check_statements(statements)
    runner = _Statements(strict=check_statements(strict), seed=seed)
    models = family.models
    analysis = {"version": SCHEMA_VERSION, "n_models": len(models),
                "pretrain_seeds": _seed_list(models[SEED_LEVEL]), "finetune_seeds": _seed_list(models["finetune_seed"]),
                "settings": {"nboot": nboot, "seed": seed, "level": 0.95, "statements": list(statements)},
                "metrics": {m.key: _metric_entry(family, m, runner, statements, nboot) for m in family.metrics}}
    analysis["spread_ratio"], analysis["iid_vs_stress"] = _pair_statements(family.metrics, runner, statements, nboot)
    tests = stress_tests(family)
    if "pca" in statements:
        analysis["pca"] = {test: runner.run("pca", test, _pca_entry, family, test) for test in tests}
    if "clustering" in statements:
        analysis["clustering"] = {test: runner.run("clustering", test, _clustering_entry, family, test, nperm=nboot,
                                                   rng=runner.rng("clustering", test)) for test in tests}
    analysis["needs"] = {name: NEEDS[name] for name in statements}
    analysis["skipped"] = runner.skipped
    _check_strict_made(analysis, runner.strict)
    return analysis


def _check_strict_made(analysis: dict, strict: set[str]) -> None:
    """A statement the caller asked for by name must have produced something, not just nothing to skip."""
    made = {"spread": analysis["metrics"], "seed_share": analysis["metrics"], "multibootstrap": analysis["metrics"],
            "iid_vs_stress": analysis.get("iid_vs_stress"), "pca": analysis.get("pca"),
            "clustering": analysis.get("clustering")}
    for statement in sorted(strict):
        if not made[statement]:
            raise UsageError(NOTHING_TO_STATE.format(statement=statement, need=NEEDS[statement]))


def analyze(rundir: str | os.PathLike, *, nboot: int = 1000, seed: int = 0, statements: Iterable[str] = STATEMENTS,
            strict: Iterable[str] = (), occupation_stats: pd.DataFrame | None = None, write: bool = True) -> dict:
    """Analyse ``rundir`` (scores.parquet + predictions/) and, with ``write``, save ``rundir/analysis.json`` atomically."""
    statements, strict = check_statements(statements), check_statements(strict)
    family = load_family(rundir, occupation_stats=occupation_stats)
    analysis = analyze_family(family, nboot=nboot, seed=seed, statements=statements, strict=strict)
    if write:
        atomic_write_json(family.path / ANALYSIS, analysis)
    return analysis
