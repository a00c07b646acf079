"""Whether a stress metric can pick a member at all: two floors, below either of which "the best member" is noise.

1. **The magnitude floor** (:mod:`.noise_floor`, docs/design.md contract 9, the same rule analysis.json applies): a
   test's ``signal_metrics`` (correlations such as ``bias_r``) are float leftovers while any member of the population
   is ``below_noise_floor`` in scores.parquet; ranking members by them ranks rounding errors.
2. **The spread floor**: the family's spread on the metric (the sample SD across members, on all items, of what the
   pick ranks: the value for a direction, the distance |value - target| for a target) must be above what item
   sampling alone gives. That is measured by shuffling the members within each example (the unit the test's
   Multi-Bootstrap resamples: an occupation for ``bias_r``, a sentence for accuracy, a female/male pair for a gap) and
   rescoring: a shuffled family has members that differ only by which items' values they drew, so its SD is the
   spread of a family with no member effect, measured on these very items (shared item effects included). The floor
   is the 95th percentile of that SD over :data:`PERMUTATIONS` shuffles (the 50th largest of 1000); the spread is
   above it when it exceeds it, which is a one-sided permutation test at 5% (``p_value`` <= 0.05, reported). The shuffle is a null for the ranking the selection
   makes, whatever the metric's scale: a difference between members that does not carry from one item to the next is
   exactly what a pick cannot rely on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nlp_underspec.analysis.noise_floor import floor_statuses
from nlp_underspec.stress.examples import ExampleSet, MeanScore, RowwiseScore

PERMUTATIONS = 1000
LEVEL = 0.95
_BLOCK_ELEMENTS = 2_000_000  # shuffled values per stacked call: bounded memory for 2,400 pairs x 24 members
_FLOOR_STREAM = 1  # default_rng([seed, 1]); the splits use [seed, 0], so one never shifts the other's draws

SPREAD_BELOW = ("{stress}: the spread of its {n} members ({what} {spread:.3g}) is not above its noise floor "
                "({floor:.3g}, the 95th percentile of that SD over {permutations} shuffles of the members within each {unit}: what "
                "item sampling alone gives; p = {p:.3g}), so the best member on it is noise")
SPREAD_UNDEFINED = ("{stress}: the noise floor of its spread is undefined (the metric is undefined on every shuffle of "
                    "the members), so the best member on it cannot be told from noise")
REFUSED = ("{reason}. Choose another stress metric, score more items, or pass --allow-below-floor to get the pick "
           "marked \"cannot tell\".")
NOT_CHECKED = "the scores carry no below_noise_floor flag for {test} (scored before the floor existed): not checked"


def score_stack(examples: ExampleSet, preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(..., n_models)``: the examples' score of each row of ``preds`` (``(..., n_models, n)``, on ``labels``).

    Built-in scores reduce along the last axis (bit-identical to one call a row, :mod:`~nlp_underspec.stress.examples`);
    any other score function is called once a row.
    """
    fn = examples.score_fn
    if isinstance(fn, RowwiseScore):
        return fn.rowwise(labels, preds)
    if isinstance(fn, MeanScore):
        return np.mean(fn.per_example(labels, preds), axis=-1)
    rows = preds.reshape(-1, preds.shape[-1])
    return np.array([fn(labels, row) for row in rows], dtype=float).reshape(preds.shape[:-1])


def shuffled_spreads(examples: ExampleSet, *, permutations: int, rng: np.random.Generator,
                     distance: Callable[[np.ndarray], np.ndarray] = np.asarray) -> np.ndarray:
    """The SD across members (ddof 1) of ``distance(score)`` in ``permutations`` families whose members are shuffled
    within each example."""
    preds = np.asarray(examples.preds, dtype=float)
    n_models, n = preds.shape
    block = max(1, _BLOCK_ELEMENTS // max(1, n_models * n))
    spreads = []
    for start in range(0, permutations, block):
        size = min(block, permutations - start)
        order = np.argsort(rng.random((size, n_models, n)), axis=1)  # one permutation of the members per example
        shuffled = np.take_along_axis(np.broadcast_to(preds, (size, n_models, n)), order, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = score_stack(examples, np.ascontiguousarray(shuffled), examples.labels)
            spreads.append(np.std(distance(scores), axis=1, ddof=1))
    return np.concatenate(spreads)


def spread_floor(examples: ExampleSet, values: np.ndarray, *, stress: str, seed: int, target: float | None = None,
                 permutations: int = PERMUTATIONS) -> dict:
    """The family's spread on all items against the spread shuffled members give: ``spread``, ``floor``,
    ``p_value``, ``above`` and, below the floor, ``reason``. With a ``target`` the spread is of |value - target|,
    what the pick ranks (a family spread evenly around the target is not one whose closest member is clear)."""
    def distance(scores):
        return np.asarray(scores, dtype=float) if target is None else np.abs(np.asarray(scores, dtype=float) - target)

    what = "SD" if target is None else f"SD of |value - {target:g}|"
    spread = float(np.std(distance(values), ddof=1))
    null = shuffled_spreads(examples, permutations=permutations, rng=np.random.default_rng([seed, _FLOOR_STREAM]),
                            distance=distance)
    null = null[np.isfinite(null)]
    entry = {"statistic": f"{what} across members of the metric on all items", "spread": spread,
             "permutations": permutations, "shuffled_within": examples.unit, "level": LEVEL}
    if null.size == 0:
        return {**entry, "floor": None, "p_value": None, "above": False,
                "reason": SPREAD_UNDEFINED.format(stress=stress)}
    # The floor is the order statistic of the permutation test at 1 - LEVEL: the spread exceeds it exactly when
    # p = (1 + #shuffles at least as spread) / (1 + shuffles) <= 0.05, so the floor and p never disagree.
    k = int(np.floor((1 - LEVEL) * (null.size + 1) + 1e-9))
    ordered = np.sort(null)[::-1]
    floor = float(ordered[max(k, 1) - 1])
    p_value = float((1 + np.sum(null >= spread)) / (1 + null.size))
    entry.update(floor=floor, p_value=p_value, n_defined=int(null.size), above=bool(k >= 1 and spread > floor))
    if not entry["above"]:
        entry["reason"] = SPREAD_BELOW.format(stress=stress, n=len(values), what=what, spread=spread, floor=floor,
                                              permutations=null.size, unit=examples.unit, p=p_value)
    return entry


def magnitude_floor(scores, *, test: str, metric: str, population: str) -> dict:
    """analysis.json's noise-floor entry of the test's population (``models_below``, ``floor``, ...), with
    ``applies`` (the metric is one of the test's signal metrics), ``above`` and, below the floor, ``reason``."""
    status = floor_statuses(scores).get((test, population))
    if status is None:
        return {"applies": False, "above": True, "note": NOT_CHECKED.format(test=test)}
    entry = {**status.to_dict(), "applies": metric in status.signal}
    entry["above"] = not (entry["applies"] and status.blocks)
    if not entry["above"]:
        entry["reason"] = status.reason(f"{test}/{metric}")
    return entry


def verdict(magnitude: dict, spread: dict) -> tuple[str, list[str]]:
    """``("selected" | "cannot tell", reasons)``: a pick is told from noise only above both floors (the repeated
    splits may still find it unstable: :func:`~nlp_underspec.analysis.selection_splits.unstable_reason`)."""
    reasons = [entry["reason"] for entry in (magnitude, spread) if entry.get("reason")]
    return ("cannot tell" if reasons else "selected"), reasons
