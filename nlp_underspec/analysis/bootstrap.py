"""Multi-Bootstrap (Sellam et al. 2022, MultiBERTs): confidence intervals that resample seeds and examples together.

Semantics, identical draw for draw to the published reference implementation: each iteration draws seeds with
replacement (paired: one draw over the seeds both arms share, used by both; unpaired: the baseline's sorted seeds, then
the intervention's, drawn independently), then one resample of the n examples used by both arms; each run is scored on
the resampled examples, scores are averaged within a seed over its runs, then over the sampled seeds. With an integer
``rng`` the draws come from ``numpy.random.RandomState(rng)`` in exactly that order.

The reference scores the sampled runs iteration by iteration in Python. Here the draws are taken first (cheap), then
every run is scored for all iterations at once: a :class:`~nlp_underspec.stress.examples.MeanScore` becomes one matrix product of
resampling counts with per-example values (exact when those sums are exact, else a gather), a
:class:`~nlp_underspec.stress.examples.RowwiseScore` one stacked call, and every mean is taken along a contiguous last
axis so the floating-point result matches the loop bit for bit. Any other ``score_fn`` goes to
:mod:`~nlp_underspec.analysis.batched`: stacked calls when it is declared or detected batched, else one call per run and
iteration (spread over ``workers`` processes if asked); either way a user's function is called only for the runs of
the seeds an iteration drew, the only ones its sample reads.

:func:`multibootstrap` takes the reference's call as well: ``multibootstrap(run_info, preds, labels, score_fn,
paired_seeds, nboot, rng)`` positionally or by keyword (``rng`` has no default here: the reference's global
``np.random`` is not reproducible).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nlp_underspec.analysis._common import BAD_RNG, check_count, check_finite, check_finite_number, check_level
from nlp_underspec.analysis.batched import check_workers, score_runs_any
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.examples import MeanScore, RowwiseScore, exact_sum_values

RUN_INFO_NOT_FRAME = ("run_info must be a pandas DataFrame with one row per run and columns 'seed' and 'intervention', "
                      "got {kind}.")
MISSING_RUN_COLUMN = "run_info is missing column '{column}' (found: {found}). {hint}"
SEED_HINT = "Give every run its seed, e.g. run_info['seed'] = run_info['pretrain_seed']."
INTERVENTION_HINT = "Mark every run: False for the baseline, True for the intervention."
PREDS_NOT_2D = "preds must be a 2-D array [n_runs, n_examples], got shape {shape}."
LABELS_NOT_1D = "labels must be a 1-D array [n_examples], got shape {shape}."
RUNS_MISMATCH = ("preds has {n_rows} row(s) but run_info has {n_runs} run(s): row i of preds must hold the predictions "
                 "of run_info row i.")
LABELS_MISMATCH = ("labels has {n_labels} value(s) but preds has {n_examples} column(s): give one label per example, "
                   "in the order of the columns.")
MISSING_SEED = "run_info row {row} has no seed. Every run needs one (the runs of one pretraining seed share it)."
BAD_INTERVENTION = ("run_info column 'intervention' must be True or False (baseline False, intervention True), "
                    "got {value!r} in row {row}.")
EMPTY_ARM = ("run_info has no {arm} runs (intervention == {flag}). Multi-Bootstrap compares a baseline family (False) "
             "with an intervention family (True).")
NO_COMMON_SEEDS = ("paired_seeds=True, but the baseline and the intervention share no seed (baseline: {base}; "
                   "intervention: {expt}). Pair runs by seed, or compare unpaired (paired_seeds=False).")
NAN_SCORE = ("score_fn returned NaN for run {run} in bootstrap sample {sample}. A correlation of constant predictions "
             "is undefined: drop that run or choose another score.")
NO_EMPTY_EXAMPLES = "preds has no examples (0 columns): there is nothing to score."
SAMPLES_SHAPE = ("samples must be the (base, expt) pairs multibootstrap returns: a sequence of pairs, an array of shape "
                 "[nboot, 2] or a DataFrame with columns base and expt; got {what}.")

MISSING_RNG = ("multibootstrap needs rng: an integer seed (rng=42 draws the reference's RandomState(42) stream), a "
               "numpy.random.Generator or a numpy.random.RandomState.")

_CHUNK_ELEMENTS = 4_000_000  # scratch elements per block of iterations (32 MB of float64)


class _Required:
    """The default of ``rng``: it must be given (a default after ``nboot`` keeps the reference's positional order)."""

    def __repr__(self) -> str:
        return "<required>"


_REQUIRED = _Required()


@dataclass
class _Arm:
    """One side of the comparison: its seeds in draw order and, per seed, the rows of its runs in run_info order."""

    seeds: list
    rows: list[np.ndarray]


# ------------------------------------------------------------------------------------------------ validation
def _check_inputs(run_info, preds, labels, *, with_intervention: bool) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    if not isinstance(run_info, pd.DataFrame):
        raise UsageError(RUN_INFO_NOT_FRAME.format(kind=type(run_info).__name__))
    needed = (("seed", SEED_HINT),) + ((("intervention", INTERVENTION_HINT),) if with_intervention else ())
    for column, hint in needed:
        if column not in run_info.columns:
            raise UsageError(MISSING_RUN_COLUMN.format(column=column, found=", ".join(map(str, run_info.columns)),
                                                       hint=hint))
    preds = np.asarray(preds)
    labels = np.asarray(labels)
    if preds.ndim != 2:
        raise UsageError(PREDS_NOT_2D.format(shape=tuple(preds.shape)))
    if labels.ndim != 1:
        raise UsageError(LABELS_NOT_1D.format(shape=tuple(labels.shape)))
    if preds.shape[0] != len(run_info):
        raise UsageError(RUNS_MISMATCH.format(n_rows=preds.shape[0], n_runs=len(run_info)))
    if labels.shape[0] != preds.shape[1]:
        raise UsageError(LABELS_MISMATCH.format(n_labels=labels.shape[0], n_examples=preds.shape[1]))
    if preds.shape[1] == 0:
        raise UsageError(NO_EMPTY_EXAMPLES)
    if preds.dtype.kind in "fc":
        check_finite(preds.real, what="preds", labels=lambda i: f"run {i // preds.shape[1]}, example {i % preds.shape[1]}")
    if labels.dtype.kind in "fc":
        check_finite(labels.real, what="labels", labels=lambda i: f"example {i}")
    run_info = run_info.reset_index(drop=True)
    missing = run_info["seed"].isna().to_numpy()
    if missing.any():
        raise UsageError(MISSING_SEED.format(row=int(np.flatnonzero(missing)[0])))
    if with_intervention:
        run_info = run_info.assign(intervention=_intervention_flags(run_info["intervention"]))
    return run_info, preds, labels


def _intervention_flags(column: pd.Series) -> np.ndarray:
    flags = []
    for row, value in enumerate(column):
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
            flags.append(bool(value))
        else:
            raise UsageError(BAD_INTERVENTION.format(value=value, row=row))
    return np.asarray(flags, dtype=bool)


def _seed_rows(run_info: pd.DataFrame, chosen: np.ndarray) -> dict:
    """seed -> rows of its runs (ascending, i.e. run_info order), over the chosen rows."""
    groups: dict = {}
    for row, seed in zip(np.flatnonzero(chosen), run_info["seed"].to_numpy()[chosen]):
        groups.setdefault(seed, []).append(row)
    return {seed: np.asarray(rows) for seed, rows in groups.items()}


def _sorted_seeds(seeds) -> list:
    return sorted(seeds)


def _common_seeds(base: dict, expt: dict) -> list:
    # The reference's order: a set intersection. For integer seeds CPython's set order is stable across processes;
    # other seed types (strings hash randomly per process) are sorted so that results stay reproducible.
    common = list(set(_sorted_seeds(base)) & set(_sorted_seeds(expt)))
    if not all(isinstance(seed, numbers.Integral) for seed in common):
        common = sorted(common, key=str)
    return common


def _legacy_rng(rng):
    """An int becomes ``RandomState(rng)`` (the reference's stream); Generator and RandomState are used as given."""
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.RandomState(int(rng))
    raise UsageError(BAD_RNG.format(kind=type(rng).__name__))


# ------------------------------------------------------------------------------------------------ draws
def _position_drawer(rng):
    """``draw(k)``: k positions below k, the integers ``rng.choice(k or a k-list, size=k, replace=True)`` takes."""
    if isinstance(rng, np.random.RandomState):
        return lambda k: rng.randint(0, k, size=k)
    return lambda k: rng.integers(0, k, size=k)


def _draw(rng, arms: list[_Arm], *, shared_seeds: bool, n_examples: int, nboot: int, sample_seeds: bool,
          sample_examples: bool) -> tuple[list[np.ndarray | None], np.ndarray | None]:
    """Seed positions per arm ``(nboot, n_seeds)`` (None: all seeds, in order) and example indices ``(nboot, n)``.

    The draws and their order are the reference's. ``choice(items, size=k, replace=True)`` is, in numpy, ``k`` bounded
    integers below ``len(items)`` used as positions; :func:`_positions` asks for those integers directly (half the
    overhead per call; the exactness tests compare with ``choice`` itself).
    """
    _positions = _position_drawer(rng)
    seed_draws = [np.empty((nboot, len(arm.seeds)), dtype=np.intp) if sample_seeds else None for arm in arms]
    example_draws = np.empty((nboot, n_examples), dtype=np.intp) if sample_examples else None
    for b in range(nboot):
        if sample_seeds:
            for k, arm in enumerate(arms):
                if shared_seeds and k > 0:
                    seed_draws[k][b] = seed_draws[0][b]
                else:
                    seed_draws[k][b] = _positions(len(arm.seeds))
        if sample_examples:
            example_draws[b] = _positions(n_examples)
    return seed_draws, example_draws


# ------------------------------------------------------------------------------------------------ scoring
def _blocks(nboot: int, per_iteration: int):
    step = max(1, _CHUNK_ELEMENTS // max(per_iteration, 1))
    for start in range(0, nboot, step):
        yield slice(start, min(start + step, nboot))


def _resample_counts(draws: np.ndarray, n: int) -> np.ndarray:
    """``(iterations, n)`` float counts: how often each example was drawn in each iteration."""
    offsets = draws + n * np.arange(draws.shape[0])[:, None]
    return np.bincount(offsets.ravel(), minlength=draws.shape[0] * n).reshape(draws.shape[0], n).astype(np.float64)


def _mean_score_runs(score_fn: MeanScore, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray) -> np.ndarray:
    values = np.stack([np.asarray(score_fn.per_example(labels, row)) for row in preds])  # (n_runs, n)
    return _mean_values_runs(values, draws)


def _mean_values_runs(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``(nboot, n_runs)`` means of per-example ``values (n_runs, n)`` over every iteration's resampled examples."""
    nboot, n = draws.shape
    out = np.empty((nboot, len(values)))
    if exact_sum_values(values):
        weights = np.ascontiguousarray(values.astype(np.float64).T)  # (n, n_runs)
        for block in _blocks(nboot, n):
            out[block] = (_resample_counts(draws[block], n) @ weights) / n  # exact sums, then numpy's mean division
        return out
    for block in _blocks(nboot, n * len(values)):
        gathered = np.ascontiguousarray(np.take(values, draws[block], axis=1))  # (n_runs, iterations, n)
        out[block] = np.mean(gathered, axis=-1).T
    return out


def _rowwise_score_runs(score_fn: RowwiseScore, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray) -> np.ndarray:
    preds = np.ascontiguousarray(preds, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    nboot, n = draws.shape
    out = np.empty((nboot, len(preds)))
    for block in _blocks(nboot, n * len(preds)):
        y_true = np.ascontiguousarray(labels[draws[block]])[None]  # (1, iterations, n)
        y_pred = np.ascontiguousarray(np.take(preds, draws[block], axis=1))  # (n_runs, iterations, n)
        out[block] = score_fn.rowwise(y_true, y_pred).T
    return out


def _score_runs(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray | None, nboot: int, *,
                workers: int | None = None, needed: np.ndarray | None = None) -> np.ndarray:
    """``(nboot, n_runs)``: every run's score on every iteration's examples; a user's function is called only where
    ``needed`` (the built-in scores cost one product or stacked call for all cells, so they fill every cell)."""
    if draws is None:
        once = np.asarray([score_fn(labels, row) for row in preds], dtype=np.float64)
        return np.broadcast_to(once, (nboot, len(preds)))
    if isinstance(score_fn, MeanScore):
        return _mean_score_runs(score_fn, preds, labels, draws)
    if isinstance(score_fn, RowwiseScore):
        return _rowwise_score_runs(score_fn, preds, labels, draws)
    return score_runs_any(score_fn, preds, labels, draws, workers=workers,
                          mean_runs=lambda values: _mean_values_runs(values, draws), needed=needed)


def _arm_scores(run_scores: np.ndarray, arm: _Arm, seed_draw: np.ndarray | None) -> np.ndarray:
    """Mean over a seed's runs, then over the (sampled) seeds; each mean along a contiguous row, as the reference."""
    nboot = run_scores.shape[0]
    seed_means = np.empty((nboot, len(arm.seeds)))
    for k, rows in enumerate(arm.rows):
        seed_means[:, k] = np.mean(np.ascontiguousarray(run_scores[:, rows]), axis=-1)
    chosen = seed_means if seed_draw is None else seed_means[np.arange(nboot)[:, None], seed_draw]
    return np.mean(np.ascontiguousarray(chosen), axis=-1)


def _needed_runs(arms: list[_Arm], seed_draws: list[np.ndarray | None], nboot: int, n_runs: int) -> np.ndarray:
    """``(nboot, n_runs)`` bools: True where an iteration drew the run's seed (so its score enters that sample)."""
    needed = np.zeros((nboot, n_runs), dtype=bool)
    for arm, draw in zip(arms, seed_draws):
        for k, rows in enumerate(arm.rows):
            drawn = np.ones(nboot, dtype=bool) if draw is None else (draw == k).any(axis=1)
            needed[np.ix_(drawn, rows)] = True
    return needed


def _check_scores(run_scores: np.ndarray, needed: np.ndarray, rows: np.ndarray, run_info: pd.DataFrame) -> None:
    bad = np.isnan(run_scores) & needed
    if bad.any():
        sample, column = (int(v[0]) for v in np.nonzero(bad))
        row = int(rows[column])
        name = f"'{run_info['model'].iloc[row]}' (row {row})" if "model" in run_info.columns else f"row {row}"
        raise UsageError(NAN_SCORE.format(run=name, sample=sample))


def _bootstrap(arms: list[_Arm], run_info: pd.DataFrame, preds: np.ndarray, labels: np.ndarray, score_fn, *,
               shared_seeds: bool, sample_seeds: bool, sample_examples: bool, nboot: int, rng,
               workers: int | None = None) -> list[np.ndarray]:
    seed_draws, example_draws = _draw(rng, arms, shared_seeds=shared_seeds, n_examples=preds.shape[1], nboot=nboot,
                                      sample_seeds=sample_seeds, sample_examples=sample_examples)
    used = np.unique(np.concatenate([rows for arm in arms for rows in arm.rows]))
    position = {int(row): k for k, row in enumerate(used)}
    local = [_Arm(arm.seeds, [np.asarray([position[int(r)] for r in rows]) for rows in arm.rows]) for arm in arms]
    needed = _needed_runs(local, seed_draws, nboot, len(used))
    run_scores = _score_runs(score_fn, preds[used], labels, example_draws, nboot, workers=workers,
                             needed=needed)  # (nboot, n_used), NaN only where not needed
    _check_scores(run_scores, needed, used, run_info)
    return [_arm_scores(run_scores, arm, draw) for arm, draw in zip(local, seed_draws)]


# ------------------------------------------------------------------------------------------------ public API
def multibootstrap(run_info: pd.DataFrame, preds, labels, score_fn, paired_seeds: bool = False, nboot: int = 500,
                   rng=_REQUIRED, verbose: bool = False, progress_indicator=None, *, sample_seeds: bool = True,
                   sample_examples: bool = True, workers: int | None = None) -> list[tuple[float, float]]:
    """``nboot`` bootstrap pairs (L, L') of the baseline's and the intervention's score, seeds macro-averaged.

    ``run_info``: one row per run with ``seed`` (any hashable) and ``intervention`` (bool); rows sharing both are
    averaged (e.g. fine-tuning runs of one pretraining seed). ``preds``: ``[n_runs, n_examples]``; ``labels``:
    ``[n_examples]``; ``score_fn(y_true, y_pred) -> float`` (batched functions, see
    :mod:`~nlp_underspec.analysis.batched`, are scored a stack of resamples at a time). ``rng`` (required): an int
    (``RandomState(rng)``, the reference's stream), a ``numpy.random.Generator`` or a ``RandomState``. ``workers``:
    threads for a batched score function, processes for one that is not (default: threads for a batched function,
    this process otherwise). The parameters up to ``progress_indicator`` may be given positionally, in the reference's
    order; ``verbose`` and ``progress_indicator`` are accepted for the reference's callers and ignored (nothing is
    printed: :func:`report_ci` returns the summary).

    >>> run_info = pd.DataFrame({"seed": [0, 0, 1, 1, 0, 1], "intervention": [False] * 4 + [True] * 2})
    >>> labels = np.array([1, 0, 1, 1, 0])
    >>> preds = np.array([[1, 0, 1, 0, 0], [1, 1, 1, 1, 0], [1, 0, 0, 1, 0], [0, 0, 1, 1, 0],
    ...                   [1, 0, 1, 1, 0], [1, 0, 1, 1, 1]])
    >>> from nlp_underspec.stress.examples import accuracy
    >>> samples = multibootstrap(run_info=run_info, preds=preds, labels=labels, score_fn=accuracy, nboot=200, rng=0)
    >>> len(samples), report_ci(samples)["delta"]["mean"] > 0
    (200, True)
    """
    del verbose, progress_indicator  # the reference's printing options: results are returned, never printed
    if rng is _REQUIRED:
        raise UsageError(MISSING_RNG)
    nboot, workers = check_count("nboot", nboot), check_workers(workers)
    run_info, preds, labels = _check_inputs(run_info, preds, labels, with_intervention=True)
    flags = run_info["intervention"].to_numpy()
    for arm, flag in (("baseline", False), ("intervention", True)):
        if not (flags == flag).any():
            raise UsageError(EMPTY_ARM.format(arm=arm, flag=flag))
    base, expt = _seed_rows(run_info, ~flags), _seed_rows(run_info, flags)
    if paired_seeds:
        common = _common_seeds(base, expt)
        if not common:
            raise UsageError(NO_COMMON_SEEDS.format(base=", ".join(map(str, _sorted_seeds(base))),
                                                    expt=", ".join(map(str, _sorted_seeds(expt)))))
        arms = [_Arm(common, [base[s] for s in common]), _Arm(common, [expt[s] for s in common])]
    else:
        arms = [_Arm(seeds, [group[s] for s in seeds]) for group in (base, expt) for seeds in [_sorted_seeds(group)]]
    base_scores, expt_scores = _bootstrap(arms, run_info, preds, labels, score_fn, shared_seeds=bool(paired_seeds),
                                          sample_seeds=sample_seeds, sample_examples=sample_examples, nboot=nboot,
                                          rng=_legacy_rng(rng), workers=workers)
    return list(zip(base_scores.tolist(), expt_scores.tolist()))


def family_bootstrap(*, run_info: pd.DataFrame, preds, labels, score_fn, sample_seeds: bool = True,
                     sample_examples: bool = True, nboot: int = 500, rng, workers: int | None = None) -> np.ndarray:
    """Multi-Bootstrap samples of one family's macro-averaged score (the baseline arm alone): ``(nboot,)``.

    Same draws as :func:`multibootstrap` would take for a baseline without an intervention: sorted seeds, then examples.

    >>> run_info = pd.DataFrame({"seed": [0, 0, 1, 1]})
    >>> from nlp_underspec.stress.examples import accuracy
    >>> samples = family_bootstrap(run_info=run_info, preds=np.eye(4, dtype=int), labels=np.ones(4, dtype=int),
    ...                            score_fn=accuracy, nboot=100, rng=0)
    >>> samples.shape, float(samples.min()) >= 0.0
    ((100,), True)
    """
    nboot, workers = check_count("nboot", nboot), check_workers(workers)
    run_info, preds, labels = _check_inputs(run_info, preds, labels, with_intervention=False)
    groups = _seed_rows(run_info, np.ones(len(run_info), dtype=bool))
    seeds = _sorted_seeds(groups)
    (scores,) = _bootstrap([_Arm(seeds, [groups[s] for s in seeds])], run_info, preds, labels, score_fn,
                           shared_seeds=False, sample_seeds=sample_seeds, sample_examples=sample_examples,
                           nboot=nboot, rng=_legacy_rng(rng), workers=workers)
    return scores


def _samples_array(samples) -> np.ndarray:
    if isinstance(samples, pd.DataFrame):
        if not {"base", "expt"} <= set(samples.columns):
            raise UsageError(SAMPLES_SHAPE.format(what=f"a DataFrame with columns {list(samples.columns)}"))
        array = samples[["base", "expt"]].to_numpy(dtype=float)
    else:
        try:
            array = np.asarray(samples, dtype=float)
        except (TypeError, ValueError):
            raise UsageError(SAMPLES_SHAPE.format(what=type(samples).__name__)) from None
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise UsageError(SAMPLES_SHAPE.format(what=f"shape {tuple(array.shape)}"))
    check_finite(array, what="samples", labels=lambda i: f"sample {i // 2}")
    return array


def report_ci(samples, *, c: float = 0.95, abs_threshold: float | None = None, rel_threshold: float | None = None,
              expect_negative_effect: bool = False) -> dict:
    """Means and percentile intervals of L (``base``), L' (``expt``) and L' - L (``delta``), with a one-sided p-value.

    ``delta["p"]`` is the share of deltas <= 0 (>= 0 with ``expect_negative_effect``), floored at 1/nboot because a
    bootstrap cannot resolve smaller values. ``abs_threshold``: also the share of deltas >= the threshold (<= minus it
    for a negative effect); ``rel_threshold``: the share of relative deltas (L' - L) / L beyond it (meaningful only
    when L is far from 0). Nothing is printed; everything is returned.

    >>> ci = report_ci([(0.50, 0.55), (0.52, 0.56), (0.49, 0.57), (0.51, 0.50)], c=0.5)
    >>> round(ci["delta"]["mean"], 4), ci["delta"]["p"], ci["nboot"]
    (0.04, 0.25, 4)
    """
    c = check_level(c)
    for name, threshold in (("abs_threshold", abs_threshold), ("rel_threshold", rel_threshold)):
        if threshold is not None:
            check_finite_number(name, threshold)
    array = _samples_array(samples)
    base, expt = array[:, 0], array[:, 1]
    delta = expt - base
    quantiles = [(1 - c) / 2, 1 - (1 - c) / 2]
    result = {"c": c, "nboot": len(array)}
    for name, values in (("base", base), ("expt", expt), ("delta", delta)):
        low, high = np.quantile(values, quantiles)
        result[name] = {"mean": float(np.mean(values)), "low": float(low), "high": float(high)}
    p = float(np.mean(delta >= 0)) if expect_negative_effect else float(np.mean(delta <= 0))
    result["delta"]["p"] = max(p, 1.0 / len(array))
    if abs_threshold is not None:
        hit = delta <= -abs_threshold if expect_negative_effect else delta >= abs_threshold
        result["abs_threshold"] = {"threshold": float(abs_threshold), "share": float(np.mean(hit))}
    if rel_threshold is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = delta / base
        hit = relative <= -rel_threshold if expect_negative_effect else relative >= rel_threshold
        result["rel_threshold"] = {"threshold": float(rel_threshold), "share": float(np.mean(hit))}
    return result
