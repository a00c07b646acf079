"""Multi-Bootstrap of an intervention family against a baseline family, metric by metric.

Both families are run folders (``scores.parquet`` + ``predictions/``). For each metric present in both (same
population), the baseline's runs and the intervention's runs go into one :func:`multibootstrap` call: seeds are the
pretraining seeds (paired mode uses the seeds both families share), and when both triplets hold the same items the
examples (sentences, occupations, pairs) are resampled too, the same resample for both arms. Metrics known only as one
value per run (e.g. STS-B dev Pearson) resample seeds alone. ``delta`` is intervention minus baseline.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import check_count, resampling_reliability
from nlp_underspec.analysis.bootstrap import NO_COMMON_SEEDS, _samples_array, multibootstrap, report_ci
from nlp_underspec.analysis.family import (
    BootstrapInputs,
    AnalysisInputs,
    MetricValues,
    bootstrap_inputs,
    load_analysis_inputs,
    seeds_only_inputs,
)
from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import derive_seed

logger = logging.getLogger(__name__)

NO_SHARED_METRICS = ("{base} and {expt} share no metric (baseline: {base_keys}; intervention: {expt_keys}). Compare "
                     "families scored on the same tests.")
UNKNOWN_METRICS = "Metric(s) {missing} are not in both families. Available: {available}."
NO_METRICS_NAMED = ("The list of metrics to compare is empty (--metrics ''). Name test/metric keys separated by "
                    "commas, or leave --metrics out to compare every shared metric. Available: {available}.")
SAME_FAMILY = ("The baseline and the intervention are the same folder ({path}): a family compared with itself has "
               "nothing to tell (every paired delta is 0). Pass two different families.")
UNPAIRED_SEEDS_LEFT_OUT = ("Paired comparison uses only the pretraining seeds both families share: left out baseline "
                           "seed(s) {base} and intervention seed(s) {expt} for {metrics}, so those numbers are of the "
                           "shared seeds, not of the whole family (leave out --paired to use every seed).")
ONE_SEED_EACH = ("{key}: each family has a single seed and there are no shared examples to resample, so a bootstrap "
                 "has nothing to vary.")


def _shared_examples(base: BootstrapInputs, expt: BootstrapInputs) -> bool:
    same_shape = base.unit is not None and base.unit == expt.unit and base.preds.shape[1] == expt.preds.shape[1]
    return same_shape and np.array_equal(base.labels, expt.labels) and base.score_fn is expt.score_fn


def _arm_inputs(base_family: AnalysisInputs, expt_family: AnalysisInputs, base: MetricValues,
                expt: MetricValues) -> tuple[BootstrapInputs, BootstrapInputs]:
    base_inputs, expt_inputs = bootstrap_inputs(base_family, base), bootstrap_inputs(expt_family, expt)
    if base_inputs.unit is not None and expt_inputs.unit is not None and not _shared_examples(base_inputs, expt_inputs):
        note = "the two families' predictions cover different items: seeds resampled only"
        return seeds_only_inputs(base.values, note), seeds_only_inputs(expt.values, note)
    if (base_inputs.unit is None) != (expt_inputs.unit is None):  # only one side has examples: compare like with like
        return seeds_only_inputs(base.values, base_inputs.note), seeds_only_inputs(expt.values, expt_inputs.note)
    return base_inputs, expt_inputs


def compare_metric(base_family: AnalysisInputs, expt_family: AnalysisInputs, base: MetricValues, expt: MetricValues, *,
                   paired: bool, nboot: int, rng, c: float = 0.95, expect_negative_effect: bool = False,
                   abs_threshold: float | None = None, rel_threshold: float | None = None) -> dict:
    """One metric's Multi-Bootstrap comparison: report_ci's numbers plus what was resampled."""
    base_inputs, expt_inputs = _arm_inputs(base_family, expt_family, base, expt)
    sample_examples = base_inputs.unit is not None
    run_info = pd.concat([base_inputs.run_info.assign(intervention=False),
                          expt_inputs.run_info.assign(intervention=True)], ignore_index=True)
    if not sample_examples and run_info.groupby("intervention")["seed"].nunique().max() < 2:
        raise UsageError(ONE_SEED_EACH.format(key=base.key))
    samples = multibootstrap(run_info=run_info, preds=np.concatenate([base_inputs.preds, expt_inputs.preds]),
                             labels=base_inputs.labels, score_fn=base_inputs.score_fn, paired_seeds=paired,
                             sample_seeds=True, sample_examples=sample_examples, nboot=nboot, rng=rng)
    result = report_ci(samples, c=c, expect_negative_effect=expect_negative_effect, abs_threshold=abs_threshold,
                       rel_threshold=rel_threshold)
    entry = {"metric": base.key, "test": base.test, "kind": base.kind, "population": base.population,
             "paired": paired, "resampled": [base_inputs.seed_unit] + ([base_inputs.unit] if sample_examples else []),
             **_counts_used(base_inputs.run_info, expt_inputs.run_info, paired=paired), **result,
             **p_values(samples, expect_negative_effect=expect_negative_effect)}
    seeds = [set(inputs.run_info["seed"]) for inputs in (base_inputs, expt_inputs)]
    # Paired draws resample the shared seeds once for both arms; unpaired, each arm is as coarse as its own seeds.
    k = len(seeds[0] & seeds[1]) if paired else min(len(s) for s in seeds)
    entry.update(resampling_reliability(k, base_inputs.seed_unit))
    notes = sorted({n for n in (base_inputs.note, expt_inputs.note) if n})
    if notes:
        entry["note"] = "; ".join(notes)
    return entry


def p_values(samples, *, expect_negative_effect: bool = False) -> dict:
    """The row's flat p-values: ``p_value`` (one-sided, = ``delta["p"]``: the share of deltas on the wrong side of 0
    for ``alternative``), ``p_value_two_sided`` (twice the smaller tail), both floored at 1/nboot.

    >>> p_values([(0.5, 0.4), (0.5, 0.45), (0.5, 0.52), (0.5, 0.3)])
    {'alternative': 'delta > 0', 'p_value': 0.75, 'p_value_two_sided': 0.5}
    """
    array = _samples_array(samples)
    delta = array[:, 1] - array[:, 0]
    floor = 1.0 / len(delta)
    below, above = float(np.mean(delta <= 0)), float(np.mean(delta >= 0))
    one_sided = above if expect_negative_effect else below
    return {"alternative": "delta < 0" if expect_negative_effect else "delta > 0", "p_value": max(one_sided, floor),
            "p_value_two_sided": min(1.0, max(2 * min(below, above), floor))}


def _counts_used(base: pd.DataFrame, expt: pd.DataFrame, *, paired: bool) -> dict:
    """Runs and seeds each arm's numbers are made of: paired draws use only the seeds both arms share, and the
    seeds of one arm alone are named (they are in neither the baseline's nor the intervention's number)."""
    shared = set(base["seed"]) & set(expt["seed"])
    used = [frame[frame["seed"].isin(shared)] if paired else frame for frame in (base, expt)]
    counts = {"n_runs": {"base": len(used[0]), "expt": len(used[1])},
              "n_seeds": {"base": int(used[0]["seed"].nunique()), "expt": int(used[1]["seed"].nunique())}}
    if paired:
        counts["unpaired_seeds"] = {arm: sorted(int(s) for s in set(frame["seed"]) - shared)
                                    for arm, frame in (("base", base), ("expt", expt))}
    return counts


def _check_shared_seeds(base_family: AnalysisInputs, expt_family: AnalysisInputs) -> None:
    """Paired mode needs seeds in common; say so once rather than once per metric."""
    seeds = [set(f.models["pretrain_seed"].dropna().astype(int)) for f in (base_family, expt_family)]
    if not seeds[0] & seeds[1]:
        raise UsageError(NO_COMMON_SEEDS.format(base=", ".join(map(str, sorted(seeds[0]))) or "none",
                                                expt=", ".join(map(str, sorted(seeds[1]))) or "none"))


def _seed_list(seeds: Iterable[int]) -> str:
    return ", ".join(map(str, sorted(seeds))) or "none"


def _warn_unpaired(comparisons: list[dict]) -> dict[str, list[int]]:
    """One warning per set of seeds left out of paired numbers (with the metrics it concerns); the union per arm."""
    groups: dict[tuple, list[str]] = {}
    for entry in comparisons:
        left_out = entry.get("unpaired_seeds", {})
        key = (tuple(left_out.get("base", ())), tuple(left_out.get("expt", ())))
        if key != ((), ()):
            groups.setdefault(key, []).append(entry["metric"])
    for (base, expt), keys in groups.items():
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        logger.warning(UNPAIRED_SEEDS_LEFT_OUT.format(base=_seed_list(base), expt=_seed_list(expt), metrics=shown))
    return {arm: sorted({s for key in groups for s in key[i]}) for i, arm in enumerate(("base", "expt"))}


def _select(base: dict, expt: dict, metrics: Iterable[str] | None, base_path, expt_path) -> list[str]:
    shared = [key for key in base if key in expt]
    if not shared:
        raise UsageError(NO_SHARED_METRICS.format(base=base_path, expt=expt_path, base_keys=", ".join(base) or "none",
                                                  expt_keys=", ".join(expt) or "none"))
    if metrics is None:
        return shared
    metrics = list(metrics)
    if not metrics:
        raise UsageError(NO_METRICS_NAMED.format(available=", ".join(shared)))
    missing = [m for m in metrics if m not in shared]
    if missing:
        raise UsageError(UNKNOWN_METRICS.format(missing=", ".join(missing), available=", ".join(shared)))
    return metrics


def compare_families(base_dir: str | os.PathLike, expt_dir: str | os.PathLike, *, paired: bool = False,
                     nboot: int = 1000, seed: int = 0, metrics: Iterable[str] | None = None, c: float = 0.95,
                     expect_negative_effect: bool = False, abs_threshold: float | None = None,
                     rel_threshold: float | None = None, occupation_stats: pd.DataFrame | None = None) -> dict:
    """Compare every shared metric (or the named ``metrics``) of two run folders; see :func:`compare_metric`.

    The draws of metric ``key`` come from ``RandomState(derive_seed(seed, "compare", key))``, so they do not depend on
    which other metrics are compared. A metric that cannot be compared (e.g. paired mode without shared seeds) is an
    error when named in ``metrics``, else skipped with its reason.
    """
    nboot = check_count("nboot", nboot)
    if os.path.realpath(base_dir) == os.path.realpath(expt_dir):  # also through a link or a trailing "/."
        raise UsageError(SAME_FAMILY.format(path=os.path.realpath(base_dir)))
    base_family = load_analysis_inputs(base_dir, occupation_stats=occupation_stats)
    expt_family = load_analysis_inputs(expt_dir, occupation_stats=occupation_stats)
    base = {m.key: m for m in base_family.metrics}
    expt = {m.key: m for m in expt_family.metrics}
    chosen = _select(base, expt, metrics, base_dir, expt_dir)
    if paired:
        _check_shared_seeds(base_family, expt_family)
    comparisons, skipped = [], []
    for key in chosen:
        try:
            comparisons.append(compare_metric(
                base_family, expt_family, base[key], expt[key], paired=paired, nboot=nboot,
                rng=derive_seed(seed, "compare", key), c=c, expect_negative_effect=expect_negative_effect,
                abs_threshold=abs_threshold, rel_threshold=rel_threshold))
        except UsageError as err:
            if metrics is not None:
                raise
            skipped.append({"metric": key, "reason": str(err)})
    return {"version": 1, "base": str(base_dir), "expt": str(expt_dir), "paired": paired, "nboot": nboot,
            "seed": seed, "level": c, **({"unpaired_seeds": _warn_unpaired(comparisons)} if paired else {}),
            "comparisons": comparisons, "skipped": skipped}
