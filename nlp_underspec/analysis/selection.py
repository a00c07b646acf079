"""Specification-aware selection (D'Amour et al. 2020): pick the family member best on a stress metric using one half
of the stress items, confirm the pick on the other half, and say what it costs on the iid metric.

The stress items are split at random (``seed``) by a column of the test's ``label_info``: its occupations, or its
template ids where it has them. Each half is a predictions triplet of its own (the items' rows of ``label_info`` and
columns of ``preds``), scored by the test's own triplet reader (``StressTest.triplet_metrics``), so a half's value is
the metric exactly as the scorer defines it, on fewer items. "Best" is closest to ``target``: by default the metric's
direction (higher or lower is better) or 0 for a signed bias. The iid cost is that member's iid metric (its paired
task's dev metric, docs/design.md contract 8: the same network) minus the best iid member's.

A pick is a finding only above the metric's noise floors (:mod:`.selection_floor`: the magnitude floor of
analysis.json, and the family's spread against members shuffled within each item); below either the command refuses
(exit 2) unless asked for the pick marked "cannot tell". One split is one draw, so the pick, its confirmation rank and
its iid cost are also given over ``splits`` random splits (:mod:`.selection_splits`), split 0 being the single split;
above the floors, a pick whose confirmation rank's 95% interval reaches past the middle of the family is "unstable"
(the members differ, but which is best depends on the items), and only one that stays in the better half is
"selected".
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import check_count
from nlp_underspec.analysis.equivalence import DEFAULT_MARGINS
from nlp_underspec.analysis.family import NOT_A_RUNDIR
from nlp_underspec.analysis.registered import paired_task
from nlp_underspec.analysis.selection_floor import REFUSED, magnitude_floor, spread_floor, verdict
from nlp_underspec.analysis.selection_splits import (example_units, fast_half_values, repeated_summary, split_orders,
                                                     unstable_reason)
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.stored_results import read_experiment_scores, read_experiment_triplets
from nlp_underspec.stress.examples import MODEL_LEVEL, RUN_LEVEL, SEED_LEVEL, ExampleSet
from nlp_underspec.stress.registry import available_stress_tests, get_stress_test
from nlp_underspec.triplet import Predictions

SPLITS = {"occupations": "occupation", "templates": "template_id"}  # --split -> the label_info column of its units
MIN_UNITS_PER_HALF = 2
# Measured on the tiny family (24 members): over split seeds 0-3, 200 splits move a pick's share by <= 0.1 and the
# ends of the 95% rank interval by <= 1 rank, in under 0.5 s when the halves are scored from the examples.
DEFAULT_SPLITS = 200

BAD_STRESS = ("--stress takes TEST/METRIC, a registered stress test and one of its metrics (e.g. {example}); got "
              "{value!r}.")
UNKNOWN_SPLIT = "Unknown split '{split}'. Available: {available}."
NO_SUBSET_READER = ("{test}/{metric} cannot be computed on a subset of the stress items: the test reads no per-item "
                    "score for it from its predictions, so a pick on one half cannot be confirmed on the other. "
                    "Choose one of: {available}.")
NO_TRIPLET = ("{path} has no per-item predictions for {test} ({folder}/ with run_info.tsv, label_info.tsv, "
              "preds.npy), so a pick on one half of the items cannot be confirmed on the other. Score the family with "
              "`nlp-underspec run` or `evaluate`, which write them.")
ONE_MEMBER = ("{path}: predictions/{test} holds {n} {population} model(s); selection picks one member of a family and "
              "needs at least 2. Evaluate more seeds of the family first.")
NO_SPLIT_COLUMN = ("--split {split}: predictions/{test}/label_info.tsv has no '{column}' column, so its items cannot "
                   "be split by {split}. Use --split {other}.")
TOO_FEW_UNITS = ("--split {split}: predictions/{test} has {n} {split}, so a half would hold fewer than "
                 f"{MIN_UNITS_PER_HALF} (one half selects, the other confirms): it needs at least "
                 f"{2 * MIN_UNITS_PER_HALF}. Use another --split or a test with more items.")
HALF_FAILED = "{test}/{metric} cannot be computed on the {half} half of the {split} (seed {seed}): {reason}"
UNDEFINED_ON_HALF = ("{test}/{metric} of model '{model}' is undefined on the {half} half of the {split} (seed {seed}): "
                     "too few or constant values there. Try another --seed or --split.")
NOT_FINITE_TARGET = "--target must be a finite number, got {value!r}."
NO_IID = "no iid metric of the {task} task in scores.parquet: the iid cost is unknown"
NO_TASK = "{test} names no fine-tuning task (pairs_with_task): the iid cost is unknown"


def parse_stress(text: str) -> tuple[str, str]:
    """``"<test>/<metric>"`` -> ``(test, metric)``; the test must be registered, the metric one of its own that its
    triplet readers compute (so it can be computed on a subset of the items)."""
    test, _, metric = str(text).partition("/")
    if not test.strip() or not metric.strip() or "/" in metric:
        raise UsageError(BAD_STRESS.format(example=_example_metric(), value=text))
    test, metric = test.strip(), metric.strip()
    cls = type(get_stress_test(test))  # an unknown test: the registry's "Did you mean"
    readers = dict(cls.triplet_metrics)
    if metric not in readers:
        if metric not in cls.metrics:
            raise UsageError(unknown_name_message(f"metric of {test}", metric, set(cls.metrics) | set(readers)))
        raise UsageError(NO_SUBSET_READER.format(test=test, metric=metric,
                                                 available=", ".join(f"{test}/{m}" for m in readers) or "(none)"))
    return test, metric


def _example_metric() -> str:
    """The first ``test/metric`` a registered test can compute on a subset (a message's example)."""
    for test in available_stress_tests():
        readers = type(get_stress_test(test)).triplet_metrics
        if readers:
            return f"{test}/{next(iter(readers))}"
    return "TEST/METRIC"


def objective(test: str, metric: str, target: float | None) -> tuple[float | None, str]:
    """``(target, words)``: what "best" means. No target: the metric's direction (highest, lowest) or 0 for a signed
    metric (→0)."""
    if target is not None:
        if not isinstance(target, (int, float)) or isinstance(target, bool) or not math.isfinite(float(target)):
            raise UsageError(NOT_FINITE_TARGET.format(value=target))
        return float(target), f"closest to {float(target):g}"
    info = type(get_stress_test(test)).metrics.get(metric)
    direction = None if info is None else info.higher_is_better
    if direction is None:
        return 0.0, "closest to 0"
    return None, "highest" if direction else "lowest"


def badness(values: np.ndarray, target: float | None, words: str) -> np.ndarray:
    """Smaller is better: the distance to the target, or the value signed by the direction."""
    values = np.asarray(values, dtype=float)
    if target is not None:
        return np.abs(values - target)
    return -values if words == "highest" else values


def split_units(predictions: Predictions, *, test: str, split: str, seed: int) -> tuple[str, list, list]:
    """``(column, selection units, confirmation units)``: the distinct values of ``label_info[column]`` shuffled with
    ``seed`` and cut in two (the selection half takes the odd one)."""
    if split not in SPLITS:
        raise UsageError(UNKNOWN_SPLIT.format(split=split, available=", ".join(SPLITS)))
    column = SPLITS[split]
    if column not in predictions.label_info.columns:
        other = next(s for s in SPLITS if s != split)
        raise UsageError(NO_SPLIT_COLUMN.format(split=split, test=test, column=column, other=other))
    units = sorted(pd.unique(predictions.label_info[column].astype(str)))
    if len(units) // 2 < MIN_UNITS_PER_HALF:
        raise UsageError(TOO_FEW_UNITS.format(split=split, test=test, n=len(units)))
    shuffled = [units[i] for i in np.random.default_rng(seed).permutation(len(units))]
    cut = len(units) - len(units) // 2
    return column, sorted(shuffled[:cut]), sorted(shuffled[cut:])


def items_subset(predictions: Predictions, column: str, units: list) -> Predictions:
    """The triplet restricted to the items whose ``column`` is one of ``units`` (label_info rows, preds columns)."""
    chosen = predictions.label_info[column].astype(str).isin(set(units)).to_numpy()
    return Predictions(predictions.run_info.copy(), predictions.label_info[chosen].copy(),
                       np.ascontiguousarray(predictions.preds[:, chosen]), predictions.source)


def family_members(predictions: Predictions) -> Predictions:
    """The members selection chooses among: the fine-tuned models when the triplet has any, else all of them."""
    finetuned = predictions.run_info[RUN_LEVEL].notna().to_numpy()
    return predictions.select(np.flatnonzero(finetuned)) if finetuned.any() else predictions


def metric_values(predictions: Predictions, *, test: str, metric: str, stats=None) -> pd.Series:
    """Each model's ``test/metric`` on the triplet's items, by model name (the test's own reader)."""
    examples = type(get_stress_test(test)).triplet_metrics[metric](predictions, stats)
    return examples.scores().droplevel([SEED_LEVEL, RUN_LEVEL])


def _half_values(members: Predictions, units: list, *, column: str, half: str, where: dict, stats) -> pd.Series:
    try:
        values = metric_values(items_subset(members, column, units), test=where["test"], metric=where["metric"],
                               stats=stats)
    except UsageError as err:
        raise UsageError(HALF_FAILED.format(half=half, reason=err, **where)) from None
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        raise UsageError(UNDEFINED_ON_HALF.format(model=values.index[int(np.flatnonzero(bad)[0])], half=half,
                                                  **where))
    return values


def iid_metric_name(scores: pd.DataFrame, task: str, wanted: str | None = None) -> str | None:
    """The dev metric of ``task`` the cost is read on: ``wanted``, else the first judged one (dev_pearson,
    dev_accuracy, ...), else the first other non-loss dev metric; None when the task has none."""
    rows = scores[(scores["test"] == task) & scores["occupation"].isna()]
    names = sorted(m for m in rows["metric"].astype(str).unique() if m.startswith("dev_"))
    if wanted is not None:
        if wanted not in names:
            raise UsageError(unknown_name_message(f"iid metric of task {task}", wanted, names))
        return wanted
    preferred = [m for m in DEFAULT_MARGINS if m in names] + [m for m in names if "loss" not in m]
    return preferred[0] if preferred else None


def iid_cost(scores: pd.DataFrame, test: str, selected: str, models: list[str], *,
             iid: str | None = None) -> tuple[dict | None, pd.Series | None]:
    """``({metric, value, selected, best, best_member, higher_is_better}, values by model)``, or ``({note}, None)``."""
    task = paired_task(test)
    if task is None:
        return {"note": NO_TASK.format(test=test)}, None
    name = iid_metric_name(scores, task, iid)
    if name is None:
        return {"note": NO_IID.format(task=task)}, None
    rows = scores[(scores["test"] == task) & (scores["metric"] == name) & scores["occupation"].isna()]
    values = rows.drop_duplicates("model").set_index("model")["value"].astype(float).reindex(models)
    known = values.dropna()
    if selected not in known.index:
        return {"metric": f"{task}/{name}", "note": f"model '{selected}' has no {task}/{name}"}, values
    higher = "loss" not in name
    best = known.idxmax() if higher else known.idxmin()
    return {"metric": f"{task}/{name}", "value": float(known[selected] - known[best]),
            "selected": float(known[selected]), "best": float(known[best]), "best_member": str(best),
            "higher_is_better": higher}, values


def _rank(bad: np.ndarray, position: int) -> int:
    """1 + the members strictly better (ties share the better rank)."""
    return 1 + int(np.sum(bad < bad[position]))


def _member_rows(members: Predictions, selection: pd.Series, confirmation: pd.Series, full: pd.Series,
                 iid: pd.Series | None, ranks: tuple[np.ndarray, np.ndarray]) -> list[dict]:
    rows = []
    for i, (model, p, f) in enumerate(zip(members.run_info[MODEL_LEVEL].astype(str), members.run_info[SEED_LEVEL],
                                          members.run_info[RUN_LEVEL])):
        iid_value = None if iid is None or pd.isna(iid.get(model)) else float(iid[model])
        rows.append({"model": model, "pretrain_seed": None if pd.isna(p) else int(p),
                     "finetune_seed": None if pd.isna(f) else int(f), "selection": float(selection[model]),
                     "confirmation": float(confirmation[model]), "all_items": float(full[model]), "iid": iid_value,
                     "selection_rank": int(ranks[0][i]), "confirmation_rank": int(ranks[1][i])})
    return sorted(rows, key=lambda row: (row["selection_rank"], row["model"]))


def _load(rundir: str | os.PathLike, test: str) -> tuple[Path, pd.DataFrame, Predictions]:
    path = Path(rundir)
    if not path.is_dir():
        raise UsageError(NOT_A_RUNDIR.format(path=path))
    triplet = read_experiment_triplets(path).get(test)
    if triplet is None:
        raise UsageError(NO_TRIPLET.format(path=path, test=test, folder=f"predictions/{test}"))
    return path, read_experiment_scores(path), triplet


def _reader_split_values(members: Predictions, units: list, chosen: np.ndarray, *, column: str, where: dict,
                         stats) -> tuple[np.ndarray, np.ndarray]:
    """Both halves of every split rescored by the test's reader (exact, ~0.1 s a half); undefined -> NaN row."""
    halves = []
    for mask in (chosen, ~chosen):
        rows = []
        for row in mask:
            try:
                values = metric_values(items_subset(members, column, [u for u, c in zip(units, row) if c]),
                                       test=where["test"], metric=where["metric"], stats=stats)
                rows.append(values.reindex(members.run_info[MODEL_LEVEL].astype(str)).to_numpy(dtype=float))
            except UsageError:  # a half the reader refuses is an undefined split, left out like a NaN one
                rows.append(np.full(members.n_models, np.nan))
        halves.append(np.vstack(rows))
    return halves[0], halves[1]


def split_values(members: Predictions, examples: ExampleSet, units: list, orders: np.ndarray, first: tuple, *,
                 column: str, where: dict, stats) -> tuple[np.ndarray, np.ndarray, str]:
    """``(selection, confirmation, how)``: ``(splits, n_members)`` values of both halves of every split (row 0 =
    ``first``, the single split's exact values); ``how`` is ``examples`` (the fast path) or ``reader``."""
    cut = len(units) - len(units) // 2
    chosen = np.zeros(orders.shape, dtype=bool)
    np.put_along_axis(chosen, orders[:, :cut], True, axis=1)
    names = example_units(examples, members, test=where["test"], column=column)
    codes = None if names is None else pd.Index(units).get_indexer(names)
    if codes is not None and (codes >= 0).all():
        selection = fast_half_values(examples, codes, chosen)
        confirmation = fast_half_values(examples, codes, ~chosen)
        # The fast values must be the reader's on split 0, else they measure something else (a plugin's reader).
        if np.allclose(selection[0], first[0], rtol=1e-9, atol=1e-12) and np.allclose(
                confirmation[0], first[1], rtol=1e-9, atol=1e-12):
            selection[0], confirmation[0] = first
            return selection, confirmation, "examples"
    selection, confirmation = _reader_split_values(members, units, chosen[1:], column=column, where=where,
                                                   stats=stats)
    return np.vstack([first[0], selection]), np.vstack([first[1], confirmation]), "reader"


def _floors(members: Predictions, scores: pd.DataFrame, examples: ExampleSet, full: pd.Series, *, where: dict,
            goal: float | None, allow_below_floor: bool) -> dict:
    """Both floors (:mod:`.selection_floor`); below either, exit 2 unless ``allow_below_floor``."""
    stress = f"{where['test']}/{where['metric']}"
    population = "finetuned" if members.run_info[RUN_LEVEL].notna().any() else "pretrained"  # noise_floor's keys
    magnitude = magnitude_floor(scores, test=where["test"], metric=where["metric"], population=population)
    if not magnitude["above"] and not allow_below_floor:
        raise UsageError(REFUSED.format(reason=magnitude["reason"]))
    spread = spread_floor(examples, full.to_numpy(dtype=float), stress=stress, seed=where["seed"], target=goal)
    if not spread["above"] and not allow_below_floor:
        raise UsageError(REFUSED.format(reason=spread["reason"]))
    words, reasons = verdict(magnitude, spread)
    entry = {"verdict": words, "floor": {"magnitude": magnitude, "spread": spread}}
    if reasons:
        entry["reason"] = "; ".join(reasons)
    return entry


def _single_split(members: Predictions, chosen: list, held_out: list, *, column: str, where: dict, goal, words,
                  stats) -> dict:
    """The single split's values and ranks (``selection``, ``confirmation``, their badness and ranks, ``pick``)."""
    models = members.run_info[MODEL_LEVEL].astype(str).tolist()
    selection = _half_values(members, chosen, column=column, half="selection", where=where,
                             stats=stats).reindex(models)
    confirmation = _half_values(members, held_out, column=column, half="confirmation", where=where,
                                stats=stats).reindex(models)
    bad = (badness(selection.to_numpy(), goal, words), badness(confirmation.to_numpy(), goal, words))
    ranks = tuple(np.array([_rank(b, i) for i in range(len(models))]) for b in bad)
    return {"models": models, "selection": selection, "confirmation": confirmation, "bad": bad, "ranks": ranks,
            "pick": int(np.argmin(bad[0]))}  # ties: the first member in run_info order


def _repeated(members: Predictions, examples: ExampleSet, one: dict, units: list, *, splits: int, column: str,
              where: dict, objective_: tuple, iid: tuple, stats) -> dict:
    """``repeated_splits``: the single split and ``splits - 1`` more, summarised (:mod:`.selection_splits`)."""
    orders = split_orders(len(units), seed=where["seed"], splits=splits)
    selection, confirmation, how = split_values(members, examples, units, orders,
                                                (one["selection"].to_numpy(), one["confirmation"].to_numpy()),
                                                column=column, where=where, stats=stats)
    bad = (badness(selection, *objective_), badness(confirmation, *objective_))
    summary = repeated_summary(selection, confirmation, bad, models=one["models"], iid=iid[0], iid_cost=iid[1],
                               n_units=len(units))
    return {**summary, "scored_by": how}


def select_member(rundir: str | os.PathLike, *, stress: str, target: float | None = None,
                  split: str = "occupations", seed: int = 0, iid: str | None = None,
                  occupation_stats: pd.DataFrame | None = None, splits: int = DEFAULT_SPLITS,
                  allow_below_floor: bool = False) -> dict:
    """Pick the member of a family best on ``stress`` (``test/metric``) on one half of the items, confirm it on the
    other; the selection document (``selected``, ``selection_value``, ``confirmation_value``, ``confirmation_rank``,
    ``iid_cost``, the per-member table ``members``, the ``verdict`` and its ``floor``, and ``repeated_splits``: the
    same over ``splits`` random splits). Below a noise floor (:mod:`.selection_floor`): exit 2, or with
    ``allow_below_floor`` the verdict "cannot tell" and its ``reason``."""
    test, metric = parse_stress(stress)
    splits = check_count("splits", splits)
    goal, words = objective(test, metric, target)
    path, scores, triplet = _load(rundir, test)
    members = family_members(triplet)
    population = "fine-tuned" if members.run_info[RUN_LEVEL].notna().any() else "pretrained"
    if members.n_models < 2:
        raise UsageError(ONE_MEMBER.format(path=path, test=test, n=members.n_models, population=population))
    column, chosen, held_out = split_units(members, test=test, split=split, seed=seed)
    where = {"test": test, "metric": metric, "split": split, "seed": seed}
    examples = type(get_stress_test(test)).triplet_metrics[metric](members, occupation_stats)
    one = _single_split(members, chosen, held_out, column=column, where=where, goal=goal, words=words,
                        stats=occupation_stats)
    models, pick = one["models"], one["pick"]
    full = examples.scores().droplevel([SEED_LEVEL, RUN_LEVEL]).reindex(models)
    checked = _floors(members, scores, examples, full, where=where, goal=goal, allow_below_floor=allow_below_floor)
    cost, iid_values = iid_cost(scores, test, models[pick], models, iid=iid)
    repeated = _repeated(members, examples, one, sorted(chosen + held_out), splits=splits, column=column,
                         where=where, objective_=(goal, words), iid=(iid_values, cost), stats=occupation_stats)
    if checked["verdict"] == "selected" and (why := unstable_reason(repeated, stress=f"{test}/{metric}",
                                                                     n_members=len(models))):
        checked.update(verdict="unstable", reason=why)
    return {"rundir": str(path), "test": test, "metric": metric, "stress": f"{test}/{metric}", "target": goal,
            "objective": words, "split": split, "seed": seed, "population": population, "n_members": len(models),
            **checked, "selection_units": chosen, "confirmation_units": held_out, "n_selection_units": len(chosen),
            "n_confirmation_units": len(held_out), "selected": models[pick],
            "selection_value": float(one["selection"].iloc[pick]),
            "confirmation_value": float(one["confirmation"].iloc[pick]),
            "confirmation_rank": int(one["ranks"][1][pick]), "confirmation_best": models[int(np.argmin(one["bad"][1]))],
            "all_items_value": float(full.iloc[pick]), "iid_cost": cost,
            "repeated_splits": repeated,
            "members": _member_rows(members, one["selection"], one["confirmation"], full, iid_values, one["ranks"])}
