"""``analysis.json``: every seed-analysis statement about one run folder, each with a number and a 95% interval.

Statements (issue 5): ``spread`` (per metric, and stress/iid spread ratios), ``seed_share`` (random-effects split and
regroup test), ``multibootstrap`` (CI of the family's macro-averaged score), ``iid_vs_stress`` (Spearman with CI),
``iid_equivalence`` (each iid metric's range against a declared margin), ``pca`` (of per-item deviations),
``clustering`` (of per-occupation profiles vs pretraining seeds), ``calibration`` (each pretrained checkpoint's
calibration slope, and whether its fine-tuned descendants inherit it: :mod:`.calibration`) and ``unstable_items``
(each stress item's variance across the family, split between and within pretraining seeds: :mod:`.unstable_items`).
A statement the family cannot support (one pretraining seed, one run per seed, a constant metric...) is skipped with
its reason, inline and in the top-level ``skipped`` list; when the caller names statements explicitly (``strict``), the
same condition is an error instead.

Two rules decide what may be stated at all (docs/design.md, contracts 8 and 9), and their skips are findings, never
errors: a stress metric is related only to the iid metrics of the fine-tuning task whose network its test scores (the
registry's ``pairs_with_task``: one network per pairing), and a test's ``signal_metrics`` get no statement while any
model of the population is below the test's noise floor (:mod:`.noise_floor`). Every random draw comes from a stream
derived from ``seed`` and the statement's subject, so adding a metric does not change the numbers of another.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from nlp_underspec.artifacts import ANALYSIS, SCORES
from nlp_underspec.analysis._common import (
    PRETRAINED_SUFFIX,
    SEED_LEVEL,
    check_count,
    percentile_interval,
    populations,
    resampling_reliability,
)
from nlp_underspec.analysis.bootstrap import family_bootstrap
from nlp_underspec.analysis.calibration import (
    SLOPE_KEY,
    check_lineages,
    checkpoint_calibration,
    inheritance,
    parent_slopes,
)
from nlp_underspec.analysis.clustering import cluster_by_seed
from nlp_underspec.analysis.correlation import rank_correlation
from nlp_underspec.analysis.dispersion import spread, spread_ratio
from nlp_underspec.analysis.equivalence import DEFAULT_MARGINS, check_margins, iid_equivalence
from nlp_underspec.analysis.family import (
    AnalysisInputs,
    MetricValues,
    bootstrap_inputs,
    item_labels,
    item_profiles,
    load_analysis_inputs,
    main_population,
    occupation_profiles,
    stress_tests,
)
from nlp_underspec.analysis.noise_floor import FloorStatus, floor_statuses, noise_floor_section
from nlp_underspec.analysis.pca import deviation_pca
from nlp_underspec.analysis.registered import headline_metrics, paired_task
from nlp_underspec.analysis.schema import SCHEMA_VERSION
from nlp_underspec.analysis.unstable_items import DEFAULT_TOP, unstable_items
from nlp_underspec.analysis.variance import regroup_test, seed_share
from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_json
from nlp_underspec.seeding import derive_seed

logger = logging.getLogger(__name__)

PER_METRIC = ("spread", "seed_share", "multibootstrap")  # statements made of each metric, not of the family
STATEMENTS = ("spread", "seed_share", "multibootstrap", "iid_vs_stress", "iid_equivalence", "pca", "clustering",
              "calibration", "unstable_items")
UNKNOWN_STATEMENT = "Unknown statement '{name}'. Available: {available}."
NEEDS = {  # what each statement needs from the family, shown in the key table and the README
    "spread": ">= 2 models",
    "seed_share": ">= 2 pretraining seeds and a seed with >= 2 runs",
    "multibootstrap": ">= 2 models (seeds and/or examples to resample)",
    "iid_vs_stress": ">= 3 models with both metrics (of one network: the task its stress test scores)",
    "iid_equivalence": ">= 2 models with an iid metric (a fine-tuning task's dev score)",
    "pca": ">= 2 models with per-item scores",
    "clustering": ">= 2 pretraining seeds and a seed with >= 2 runs",
    "calibration": ("calibration scores of pretrained checkpoints (inheritance: >= 3 pretraining seeds with a "
                    "calibrated checkpoint and fine-tuned descendants)"),
    "unstable_items": (">= 2 models with per-item scores (the between/within-seed split: >= 2 pretraining seeds and a "
                       "seed with >= 2 runs; trusted from 3 seeds)"),
}
CALIBRATION_SUBJECT = "calibration"
INHERITANCE_SUBJECT = "calibration inheritance"
NOTHING_TO_STATE = ("The family has nothing to compute '{statement}' on (it needs {need}, and for iid_vs_stress both an iid "
                    "and a stress metric; for pca/clustering a stress test with per-item or per-occupation scores).")
NO_PAIRED_TASK = ("{subject}: the stress test names no fine-tuning task whose network it scores (pairs_with_task), so "
                  "none of its metrics is related to an iid metric: that could pair numbers of different networks")
NO_PAIRED_METRIC = ("{subject}: this family has no {task} dev metric, and {test} is related only to the {task} network "
                    "it scores (one network per pairing)")
PAIR_STATEMENTS = ("spread", "iid_vs_stress")  # the statements that relate a stress metric to an iid metric
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
            # A statement made per metric, asked for by name, is owed for the metrics that support it: one that
            # cannot be made of a pretrained checkpoint's one-run-per-seed numbers is skipped like any finding, and
            # _check_strict_made raises only when it was made of none.
            if statement in self.strict and statement not in PER_METRIC:
                raise
            return self.skip(statement, subject, str(err))

    def skip(self, statement: str, subject: str, reason: str) -> dict:
        """Record a statement the family's numbers do not support (a finding about them, so never an error)."""
        self.skipped.append({"statement": statement, "subject": subject, "reason": reason})
        logger.debug("skipped %s for %s: %s", statement, subject, reason)
        return {"skipped": reason}


def check_statements(names: Iterable[str]) -> tuple[str, ...]:
    names = tuple(names)
    for name in names:
        if name not in STATEMENTS:
            raise UsageError(UNKNOWN_STATEMENT.format(name=name, available=", ".join(STATEMENTS)))
    return names


def _multibootstrap_entry(family: AnalysisInputs, metric: MetricValues, *, nboot: int, rng: int) -> dict:
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
    if n_seeds > 1:  # examples add variety, but the seed axis of the interval has only this many resamples
        entry.update(resampling_reliability(int(n_seeds), inputs.seed_unit))
    if inputs.note:
        entry["note"] = inputs.note
    return entry


def _seed_share_entry(metric: MetricValues, *, nperm: int, rng: int) -> dict:
    entry = seed_share(metric.values, what=metric.key)
    entry["regroup"] = regroup_test(metric.values, nperm=nperm, rng=rng, what=metric.key)
    return entry


def _metric_entry(family: AnalysisInputs, metric: MetricValues, runner: _Statements, statements, nboot: int,
                  floor: FloorStatus | None) -> dict:
    entry = {"test": metric.test, "metric": metric.metric, "kind": metric.kind, "population": metric.population}
    below = _below_floor(metric, floor)
    if below:
        entry["below_noise_floor"] = {"n_below": len(floor.below), "n_models": floor.n_models}
    computations = {
        "spread": lambda: runner.run("spread", metric.key, spread, metric.values, nboot=nboot,
                                     rng=runner.rng("spread", metric.key), what=metric.key),
        "seed_share": lambda: runner.run("seed_share", metric.key, _seed_share_entry, metric, nperm=nboot,
                                         rng=runner.rng("seed_share", metric.key)),
        "multibootstrap": lambda: runner.run("multibootstrap", metric.key, _multibootstrap_entry, family, metric,
                                             nboot=nboot, rng=runner.rng("multibootstrap", metric.key)),
    }
    for statement, compute in computations.items():
        if statement in statements:
            entry[statement] = runner.skip(statement, metric.key, floor.reason(metric.key)) if below else compute()
    return entry


def _below_floor(metric: MetricValues, floor: FloorStatus | None) -> bool:
    return floor is not None and floor.blocks and metric.metric in floor.signal


def _suffix(metric: MetricValues) -> str:
    return PRETRAINED_SUFFIX if metric.key.endswith(PRETRAINED_SUFFIX) else ""


def _pairs(metrics: list[MetricValues], runner: _Statements, statements) -> list[tuple[MetricValues, MetricValues]]:
    """(stress, iid) pairs of one network: a stress test's metrics with the dev metrics of the task it scores.

    A test that names no such task, or whose task has no dev metric here, pairs with nothing; that is recorded once
    per test (for fine-tuned models, or any population with iid metrics: others have nothing to pair anyway).
    """
    iid: dict[tuple[str, str], list[MetricValues]] = {}
    stress: dict[tuple[str, str], list[MetricValues]] = {}
    for metric in metrics:
        group = iid if metric.kind == "iid" else stress
        group.setdefault((metric.population, metric.test), []).append(metric)
    with_iid = {population for population, _ in iid}
    pairs = []
    for (population, test), group in stress.items():
        task = paired_task(test)
        partners = iid.get((population, task), []) if task else []
        if partners:
            pairs += [(s, i) for s in group for i in partners]
        elif population in with_iid or population == "finetuned":
            subject = test + _suffix(group[0])
            reason = (NO_PAIRED_TASK.format(subject=subject) if task is None else
                      NO_PAIRED_METRIC.format(subject=subject, task=task, test=test))
            for statement in PAIR_STATEMENTS:
                if statement in statements:
                    runner.skip(statement, subject, reason)
    return pairs


def _pair_statements(metrics, runner: _Statements, statements, nboot: int,
                     floors: dict[tuple[str, str], FloorStatus]) -> tuple[list, list]:
    ratios, correlations = [], []
    for stress, iid in _pairs(metrics, runner, statements):
        subject = f"{stress.key} vs {iid.key}"
        floor = floors.get((stress.test, stress.population))
        if _below_floor(stress, floor):
            for statement in PAIR_STATEMENTS:
                if statement in statements:
                    runner.skip(statement, subject, floor.reason(stress.key))
            continue
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


def _profile_note(floors: dict[tuple[str, str], FloorStatus], test: str, population: str) -> dict:
    floor = floors.get((test, population))
    return {"note": floor.profile_note()} if floor is not None and floor.below else {}


def _pca_entry(family: AnalysisInputs, test: str, floors: dict[tuple[str, str], FloorStatus]) -> dict:
    population = main_population(family, test)
    items, source = item_profiles(family, test, population)
    if items is None:
        return _no_profile(test)
    result = deviation_pca(items, n_components=2, what=f"{test} per-item scores").to_dict(top_k=5)
    return {"population": population, "source": source, **result, **_profile_note(floors, test, population)}


def _clustering_entry(family: AnalysisInputs, test: str, floors: dict[tuple[str, str], FloorStatus], *, nperm: int,
                      rng: int) -> dict:
    population = main_population(family, test)
    profiles, source = occupation_profiles(family, test, population)
    if profiles is None:
        return _no_profile(test)
    result = cluster_by_seed(profiles, nperm=nperm, rng=rng, what=f"{test} per-occupation profiles")
    return {"population": population, "source": source, **result, **_profile_note(floors, test, population)}


def _unstable_entry(family: AnalysisInputs, test: str, floors: dict[tuple[str, str], FloorStatus], *,
                    top: int) -> dict:
    population = main_population(family, test)
    items, source = item_profiles(family, test, population)
    if items is None:
        return _no_profile(test)
    labels = item_labels(family, test) if source != SCORES else None
    result = unstable_items(items, labels, top=top, what=f"{test} per-item scores")
    return {"population": population, "source": source, **result, **_profile_note(floors, test, population)}


def _inheritance_entry(metric: MetricValues, slopes: pd.Series, runner: _Statements, *, nboot: int,
                       floors: dict[tuple[str, str], FloorStatus], nothing_learnt: bool) -> dict:
    subject = f"{metric.key} vs {SLOPE_KEY}"
    entry = {"test": metric.test, "metric": metric.metric, "headline": metric.metric in headline_metrics(metric.test)}
    floor = floors.get((metric.test, metric.population))
    if _below_floor(metric, floor):
        return {**entry, **runner.skip("calibration", subject, floor.reason(metric.key))}
    try:
        return {**entry, **inheritance(slopes, metric.values, nboot=nboot, rng=runner.rng("calibration", subject),
                                       child_name=metric.key, nothing_learnt=nothing_learnt)}
    except UsageError as err:  # a metric the lineages cannot be related on is a finding about it, even under --only
        return {**entry, **runner.skip("calibration", subject, str(err))}


def _calibration_entry(family: AnalysisInputs, runner: _Statements, *, nboot: int,
                       floors: dict[tuple[str, str], FloorStatus]) -> dict:
    """The ``calibration`` block: every checkpoint's slope (an error without any, so ``--only calibration`` refuses),
    then ``inheritance`` per fine-tuned stress metric, or one skip when the family cannot support any."""
    block = checkpoint_calibration(family)
    try:
        metrics = check_lineages(block, family)
    except UsageError as err:
        block["inheritance"] = runner.skip("calibration", INHERITANCE_SUBJECT, str(err))
        return block
    slopes = parent_slopes(block)
    block["inheritance"] = {m.key: _inheritance_entry(m, slopes, runner, nboot=nboot, floors=floors,
                                                      nothing_learnt=block["n_learned"] == 0) for m in metrics}
    return block


def _seed_list(values: pd.Series) -> list[int]:
    return sorted(int(v) for v in pd.unique(values.dropna()))


def analyze_family(family: AnalysisInputs, *, nboot: int = 1000, seed: int = 0, statements: Iterable[str] = STATEMENTS,
                   strict: Iterable[str] = (), iid_margins: Mapping[str, float] | None = None,
                   unstable_top: int = DEFAULT_TOP) -> dict:
    """The analysis.json document of a loaded family (see the README's "Seed analysis" for every key).

    ``iid_margins`` overrides the iid-equivalence margins per ``task/metric`` or metric name (defaults:
    :data:`~nlp_underspec.analysis.equivalence.DEFAULT_MARGINS`); ``unstable_top``: how many items, templates and
    occupations ``unstable_items`` keeps per test.
    """
    nboot = check_count("nboot", nboot)
    unstable_top = check_count("unstable_top", unstable_top)
    statements = check_statements(statements)
    runner = _Statements(strict=check_statements(strict), seed=seed)
    margins = check_margins(iid_margins, family.metrics)
    floors = floor_statuses(family.scores)
    models = family.models
    analysis = {"version": SCHEMA_VERSION, "n_models": len(models),
                "pretrain_seeds": _seed_list(models[SEED_LEVEL]), "finetune_seeds": _seed_list(models["finetune_seed"]),
                "settings": {"nboot": nboot, "seed": seed, "level": 0.95, "statements": list(statements),
                             "unstable_top": unstable_top,
                             "iid_margins": {**DEFAULT_MARGINS, **margins}},
                "metrics": {m.key: _metric_entry(family, m, runner, statements, nboot,
                                                 floors.get((m.test, m.population))) for m in family.metrics}}
    analysis["spread_ratio"], analysis["iid_vs_stress"] = _pair_statements(family.metrics, runner, statements, nboot,
                                                                           floors)
    if "iid_equivalence" in statements:
        analysis["iid_equivalence"] = runner.run("iid_equivalence", "iid metrics", iid_equivalence, family.metrics,
                                                 margins=margins)
    rows = family.scores[family.scores["occupation"].isna()]
    analysis["noise_floor"] = noise_floor_section(floors, suffix_pretrained=len(set(populations(rows))) > 1)
    tests = stress_tests(family)
    if "pca" in statements:
        analysis["pca"] = {test: runner.run("pca", test, _pca_entry, family, test, floors) for test in tests}
    if "clustering" in statements:
        analysis["clustering"] = {test: runner.run("clustering", test, _clustering_entry, family, test, floors,
                                                   nperm=nboot, rng=runner.rng("clustering", test)) for test in tests}
    if "calibration" in statements:
        analysis["calibration"] = runner.run("calibration", CALIBRATION_SUBJECT, _calibration_entry, family, runner,
                                             nboot=nboot, floors=floors)
    if "unstable_items" in statements:
        analysis["unstable_items"] = {test: runner.run("unstable_items", test, _unstable_entry, family, test, floors,
                                                       top=unstable_top) for test in tests}
    analysis["needs"] = {name: NEEDS[name] for name in statements}
    analysis["skipped"] = runner.skipped
    _check_strict_made(analysis, runner.strict)
    return analysis


def _why_not_made(metrics: dict, statement: str) -> str | None:
    """None when the per-metric ``statement`` was made of some metric, else why not (its first skip reason, or "")."""
    reasons = []
    for entry in metrics.values():
        result = entry.get(statement)
        if isinstance(result, dict) and "skipped" not in result:
            return None
        if isinstance(result, dict):
            reasons.append(result["skipped"])
    return reasons[0] if reasons else ""


def _check_strict_made(analysis: dict, strict: set[str]) -> None:
    """A statement the caller asked for by name must have produced something, not just nothing to skip."""
    for statement in sorted(strict & set(PER_METRIC)):
        why = _why_not_made(analysis["metrics"], statement)
        if why is not None:
            raise UsageError(why or NOTHING_TO_STATE.format(statement=statement, need=NEEDS[statement]))
    made = {"iid_vs_stress": analysis.get("iid_vs_stress"), "pca": analysis.get("pca"),
            "iid_equivalence": "skipped" not in analysis.get("iid_equivalence", {"skipped": True}),
            "clustering": analysis.get("clustering"),
            "unstable_items": {k: v for k, v in (analysis.get("unstable_items") or {}).items() if "skipped" not in v},
            "calibration": "skipped" not in analysis.get("calibration", {"skipped": True})}
    for statement in sorted(strict - set(PER_METRIC)):
        if not made[statement]:
            raise UsageError(NOTHING_TO_STATE.format(statement=statement, need=NEEDS[statement]))


def analyze(rundir: str | os.PathLike, *, nboot: int = 1000, seed: int = 0, statements: Iterable[str] = STATEMENTS,
            strict: Iterable[str] = (), occupation_stats: pd.DataFrame | None = None,
            iid_margins: Mapping[str, float] | None = None, write: bool = True,
            unstable_top: int = DEFAULT_TOP) -> dict:
    """Analyse ``rundir`` (scores.parquet + predictions/) and, with ``write``, save ``rundir/analysis.json`` atomically."""
    statements, strict = check_statements(statements), check_statements(strict)
    family = load_analysis_inputs(rundir, occupation_stats=occupation_stats)
    analysis = analyze_family(family, nboot=nboot, seed=seed, statements=statements, strict=strict,
                              iid_margins=iid_margins, unstable_top=unstable_top)
    if write:
        atomic_write_json(family.path / ANALYSIS, analysis)
    return analysis
