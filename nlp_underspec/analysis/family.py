"""A family of runs as the analysis sees it: one value per model for every metric, per-item and per-occupation profiles.

Reads only ``RUNDIR/scores.parquet`` and the predictions triplets ``RUNDIR/predictions/<test>/`` (docs/design.md,
contracts 4 and 3; read with :mod:`nlp_underspec.stored_results`' rule for ``pretrained/``), never models. Metric
keys are ``<test>/<metric>``. A family trained here holds two populations: pretrained checkpoints (no fine-tuning seed,
e.g. ``p03``, scored by an MLM probe) and fine-tuned models (``p03-f01``); they are analysed separately, and when both
are present the checkpoints' keys get the suffix ``@pretrained``.

iid metrics (task skill on the fine-tuning task's own dev set: rows of a fine-tuning task such as ``stsb``/``coref``,
and ``dev_*`` metrics) are told apart from stress metrics (everything a stress test scores, a stress set's
``accuracy`` included: docs/design.md, contract 8); counts (``n_*``), per-model interval bounds (``ci95_*``) and what
describes how a score was made (``noise_floor``, ``below_noise_floor``, ``scale``) are not metrics of their own and are
left out.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import (
    MODEL_INDEX,
    MODEL_LEVEL,
    PRETRAINED_SUFFIX,
    RUN_LEVEL,
    SEED_LEVEL,
    populations,
)
from nlp_underspec.analysis.noise_floor import NOT_METRICS
from nlp_underspec.analysis.registered import registered_test
from nlp_underspec.analysis.scoring import ITEM_LABELS, ITEM_PROFILES, OCCUPATION_PROFILES, TRIPLET_METRICS
from nlp_underspec.artifacts import PREDICTIONS, SCORES
from nlp_underspec.config import TASKS
from nlp_underspec.errors import UsageError
from nlp_underspec.stored_results import read_experiment_scores, read_experiment_triplets
from nlp_underspec.stress.examples import MeanScore, model_index
from nlp_underspec.triplet import Predictions

logger = logging.getLogger(__name__)

NOT_A_RUNDIR = ("{path} is not a folder. Pass a run folder holding scores.parquet (and predictions/<test>/), e.g. "
                "runs/tiny or the --out of `nlp-underspec evaluate`.")
DUPLICATE_SCORE = ("{path}: model '{model}' has {count} rows for {test}/{metric}{occupation}. Keep one row per model "
                   "and metric (re-score, or drop the duplicates).")
TOO_FEW_MODELS = ("{path} holds scores for {n} model(s); a seed analysis compares at least 2. Evaluate more seeds of "
                  "the family first.")

IID_TESTS = TASKS  # the fine-tuning tasks; any other task's dev rows are iid by their dev_ name
CONSISTENCY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class MetricValues:
    """One metric of one population: a value per model, indexed by (model, pretrain_seed, finetune_seed)."""

    key: str
    test: str
    metric: str
    population: str  # "finetuned" or "pretrained"
    kind: str  # "iid" or "stress"
    values: pd.Series


@dataclass
class AnalysisInputs:
    """Everything the statements need from one run folder."""

    path: Path
    scores: pd.DataFrame
    triplets: dict[str, Predictions]
    metrics: list[MetricValues] = field(default_factory=list)
    occupation_stats: pd.DataFrame | None = None

    @property
    def models(self) -> pd.DataFrame:
        """One row per model: model, pretrain_seed, finetune_seed."""
        return (self.scores[list(MODEL_INDEX)].drop_duplicates("model").sort_values("model", kind="stable")
                .reset_index(drop=True))


@dataclass(frozen=True)
class BootstrapInputs:
    """A metric laid out for the Multi-Bootstrap: runs (``model``, ``seed``), ``preds`` ``[runs, examples]``, labels."""

    run_info: pd.DataFrame
    preds: np.ndarray
    labels: np.ndarray
    score_fn: object
    unit: str | None  # what one example is; None: no examples to resample (one value per run)
    seed_unit: str = SEED_LEVEL  # what a "seed" is: the pretraining seed, or the model when seeds are missing
    note: str | None = None


def metric_kind(test: str, metric: str) -> str:
    """``iid`` for a fine-tuning task's dev metrics, ``stress`` for what a stress test scores (its accuracies too: a
    stress set's accuracy is behaviour under stress, and pairing it with its own test's bias is a tautology).

    >>> metric_kind("stsb", "dev_pearson"), metric_kind("a_stress_test", "accuracy"), metric_kind("a_stress_test", "bias_r")
    ('iid', 'stress', 'stress')
    """
    if test in IID_TESTS or metric.startswith("dev_"):
        return "iid"
    return "stress"


def is_reported_metric(metric: str) -> bool:
    """False for counts, per-model interval bounds and noise-floor fields: each describes a score and is not one."""
    return not (metric.startswith(("n_", "ci95")) or metric.endswith(("_ci95_low", "_ci95_high"))
                or metric in NOT_METRICS)


def _check_unique(rows: pd.DataFrame, path: Path) -> None:
    counts = rows.groupby(["model", "test", "metric", "occupation"], dropna=False).size()
    if (counts > 1).any():
        (model, test, metric, occupation), count = next((k, v) for k, v in counts.items() if v > 1)
        where = f" (occupation {occupation})" if isinstance(occupation, str) else ""
        raise UsageError(DUPLICATE_SCORE.format(path=path, model=model, count=count, test=test, metric=metric,
                                                occupation=where))


def family_metrics(scores: pd.DataFrame) -> list[MetricValues]:
    """Per-model metrics of a tidy scores table (rows without an occupation), one entry per population."""
    model_rows = scores[scores["occupation"].isna()].copy()
    model_rows["population"] = populations(model_rows)
    both = model_rows["population"].nunique() > 1
    metrics = []
    for (test, metric, population), rows in model_rows.groupby(["test", "metric", "population"], sort=True):
        if not is_reported_metric(str(metric)):
            continue
        key = f"{test}/{metric}" + (PRETRAINED_SUFFIX if both and population == "pretrained" else "")
        values = pd.Series(rows["value"].to_numpy(dtype=float), index=model_index(rows), name=key)
        metrics.append(MetricValues(key, str(test), str(metric), str(population), metric_kind(str(test), str(metric)),
                                    values.sort_index()))
    return metrics


def load_analysis_inputs(rundir: str | os.PathLike, *, occupation_stats: pd.DataFrame | None = None) -> AnalysisInputs:
    """Read and check a run folder: scores.parquet (required) and every predictions triplet under predictions/.

    A sweep keeps the pretrained checkpoints' scores apart, in ``RUNDIR/pretrained/`` (same layout); when present it is
    read too (:mod:`nlp_underspec.stored_results`' rule), and its models join the family as the ``pretrained``
    population.
    """
    path = Path(rundir)
    if not path.is_dir():
        raise UsageError(NOT_A_RUNDIR.format(path=path))
    scores = read_experiment_scores(path)
    triplets = read_experiment_triplets(path)
    _check_unique(scores, path / SCORES)
    if scores["model"].nunique() < 2:
        raise UsageError(TOO_FEW_MODELS.format(path=path / SCORES, n=scores["model"].nunique()))
    return AnalysisInputs(path, scores, triplets, family_metrics(scores), occupation_stats)


def _population_rows(index: pd.MultiIndex, population: str) -> np.ndarray:
    finetuned = ~pd.isna(index.get_level_values(RUN_LEVEL))
    return finetuned if population == "finetuned" else ~finetuned


def main_population(family: AnalysisInputs, test: str) -> str:
    """The population a per-test statement (PCA, clustering) looks at: fine-tuned models when there are any."""
    rows = family.scores[family.scores["test"] == test]
    return "finetuned" if rows[RUN_LEVEL].notna().any() else "pretrained"


def bootstrap_seeds(index: pd.MultiIndex) -> tuple[np.ndarray, str]:
    """The seed of each run for resampling: its pretraining seed, or, when any is missing, the model itself."""
    seeds = index.get_level_values(SEED_LEVEL)
    if not pd.isna(seeds).any():
        return np.asarray(seeds, dtype=np.int64), SEED_LEVEL
    return np.asarray(index.get_level_values(MODEL_LEVEL), dtype=object), MODEL_LEVEL


def _run_info(index: pd.MultiIndex) -> tuple[pd.DataFrame, str]:
    seeds, unit = bootstrap_seeds(index)
    return pd.DataFrame({"model": index.get_level_values(MODEL_LEVEL), "seed": seeds}), unit


def _value_of_run(y_true, y_pred):
    return np.asarray(y_pred, dtype=float)


value_of_run = MeanScore(_value_of_run, "value")  # the score of a run that has a single value: that value


def seeds_only_inputs(values: pd.Series, note: str | None = None) -> BootstrapInputs:
    """A metric known only as one value per run (no triplet): the bootstrap can resample seeds, not examples."""
    run_info, seed_unit = _run_info(values.index)
    return BootstrapInputs(run_info, values.to_numpy(dtype=float)[:, None], np.zeros(1), value_of_run, None,
                           seed_unit, note)


def bootstrap_inputs(family: AnalysisInputs, metric: MetricValues) -> BootstrapInputs:
    """The triplet's examples when a reader exists and reproduces scores.parquet; else one value per run."""
    triplet = family.triplets.get(metric.test)
    reader = TRIPLET_METRICS.get((metric.test, metric.metric))
    if triplet is None or reader is None:
        why = "no predictions triplet" if triplet is None else "no per-example score for this metric"
        return seeds_only_inputs(metric.values, f"{why}: seeds resampled, examples not")
    try:
        examples = reader(triplet, family.occupation_stats)
    except UsageError as err:
        logger.warning("%s: %s; resampling seeds only", metric.key, err)
        return seeds_only_inputs(metric.values, f"predictions/{metric.test} unusable ({err}): seeds resampled only")
    wanted = set(metric.values.index.get_level_values(MODEL_LEVEL))
    keep = np.array([m in wanted for m in examples.models.get_level_values(MODEL_LEVEL)])
    if not keep.any():
        return seeds_only_inputs(metric.values, f"predictions/{metric.test} has none of these models: seeds only")
    index = examples.models[keep]
    recomputed = pd.Series([examples.score_fn(examples.labels, row) for row in examples.preds[keep]],
                           index=index.get_level_values(MODEL_LEVEL), dtype=float)
    stored = pd.Series(metric.values.to_numpy(), index=metric.values.index.get_level_values(MODEL_LEVEL))
    gap = float(np.max(np.abs(recomputed - stored.reindex(recomputed.index))))
    if not gap <= CONSISTENCY_TOLERANCE:
        logger.warning("%s recomputed from predictions/%s differs from scores.parquet by %.3g; resampling seeds only",
                       metric.key, metric.test, gap)
        return seeds_only_inputs(metric.values, f"predictions/{metric.test} does not reproduce scores.parquet "
                                                f"(gap {gap:.2g}): seeds resampled only")
    run_info, seed_unit = _run_info(index)
    return BootstrapInputs(run_info, examples.preds[keep], examples.labels, examples.score_fn, examples.unit,
                           seed_unit)


def _profile_from_scores(family: AnalysisInputs, test: str, population: str) -> pd.DataFrame | None:
    rows = family.scores[(family.scores["test"] == test) & family.scores["occupation"].notna()]
    if rows.empty:
        return None
    metric = getattr(registered_test(test), "per_occupation_metric", None) or min(rows["metric"].unique())
    rows = rows[rows["metric"] == metric]
    rows = rows[populations(rows) == population]
    if rows.empty:
        return None
    # Pivot on the model alone: over (model, seeds) a pivot keeping NaN keys would cross every model with every seed.
    table = rows.pivot_table(index="model", columns="occupation", values="value", aggfunc="first")
    seeds = rows.drop_duplicates("model").set_index("model").loc[table.index, list(MODEL_INDEX[1:])]
    index = model_index(seeds.reset_index())
    return pd.DataFrame(table.to_numpy(dtype=float), index=index, columns=table.columns).dropna(axis=1, how="any")


def _triplet_profile(family: AnalysisInputs, readers: dict, test: str, population: str, instead: str) -> pd.DataFrame | None:
    """The profile ``readers[test]`` reads from the test's triplet, for one population; None (with a warning when the
    triplet is unusable) when there is no triplet or no reader."""
    triplet = family.triplets.get(test)
    if triplet is None or test not in readers:
        return None
    try:
        profile = readers[test](triplet)
    except UsageError as err:
        logger.warning("%s: %s; %s", test, err, instead)
        return None
    return profile[_population_rows(profile.index, population)]


def occupation_profiles(family: AnalysisInputs, test: str, population: str) -> tuple[pd.DataFrame | None, str]:
    """Per-occupation stress profile of each model (rows) and where it came from (triplet or scores.parquet)."""
    profile = _triplet_profile(family, OCCUPATION_PROFILES, test, population,
                               "using the per-occupation rows of scores.parquet")
    if profile is not None:
        return profile, f"{PREDICTIONS}/{test}"
    return _profile_from_scores(family, test, population), SCORES


def item_profiles(family: AnalysisInputs, test: str, population: str) -> tuple[pd.DataFrame | None, str]:
    """Per-item scores (PCA input): from the triplet when its reader applies, else the per-occupation profile."""
    items = _triplet_profile(family, ITEM_PROFILES, test, population, "using per-occupation scores for the PCA")
    if items is not None:
        return items, f"{PREDICTIONS}/{test}"
    return occupation_profiles(family, test, population)


def item_labels(family: AnalysisInputs, test: str) -> pd.DataFrame | None:
    """What each item of the triplet's per-item profile is (its label_info row, indexed by item), or None when the test
    does not say (no ``item_labels`` in the registry) or its triplet is unusable (with a warning)."""
    triplet = family.triplets.get(test)
    if triplet is None or test not in ITEM_LABELS:
        return None
    try:
        return ITEM_LABELS[test](triplet)
    except UsageError as err:
        logger.warning("%s: %s; unstable items are not grouped by template or occupation", test, err)
        return None


def stress_tests(family: AnalysisInputs) -> list[str]:
    """Tests with a per-occupation profile or per-item reader (the inputs of PCA and clustering), sorted."""
    with_rows = set(family.scores.loc[family.scores["occupation"].notna(), "test"])
    return sorted(with_rows | (set(family.triplets) & (set(ITEM_PROFILES) | set(OCCUPATION_PROFILES))))
