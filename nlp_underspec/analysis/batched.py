"""Fast Multi-Bootstrap scoring for a user's own ``score_fn``: stacked calls when it is batched, else one call a row.

A score function takes one run's predictions on the resampled examples, ``score_fn(y_true [n], y_pred [n]) -> float``
(the MultiBERTs convention). A sample averages the runs of the seeds its iteration drew, so only those runs are scored
there (``needed``): about 160 000 Python calls for 250 runs of 25 seeds per arm and 1000 iterations, where scoring every
run would take 250 000. A function that reduces along the last axis can score a whole stack of iterations in one call instead:
``score_fn(y_true [k, n], y_pred [k, n]) -> [k]``, row ``b`` the score of the ``b``-th resample. Such a function is

- **declared** with :func:`batched_score` (or by setting ``score_fn.batched = True``): trusted, and its output shape is
  checked (a clear :class:`~nlp_underspec.errors.UsageError` otherwise);
- or **detected**: one stacked call on a small probe of the real resamples must return one score per row, each equal
  to the single-row call (exactly, NaN included); a function that fails the probe, raises or returns a scalar is
  scored row by row. ``lambda y, p: np.mean(y == p, axis=-1)`` is detected; ``lambda y, p: float(np.mean(y == p))``
  (a scalar for any input) is not.

A batched function whose value on one example alone is an integer (accuracy-like: ``y == p``, 0/1) and whose result
on the probe resamples is exactly the mean of those values is not called per resample at all: its per-example values
are summed over resampling counts, the exact path of the built-in means.

Every stacked array is C-contiguous with the examples on its last axis, so a reduction along ``axis=-1`` sums each row
exactly as a lone 1-D call does and the numbers equal the per-row loop bit for bit. Stacked calls for different runs
are made from ``workers`` threads at once (default: the usable cores, at most 4; numpy releases the GIL while it
computes), so a batched function must not keep state between calls; ``workers=1`` keeps to one thread.

A function that is not batched is called once per run and iteration: in this process by default, or, with an integer
``workers`` > 1, spread over that many spawned processes in contiguous blocks of iterations, collected in order (the
same numbers as serial; the function must be picklable: defined with ``def`` at module level).
"""

from __future__ import annotations

import multiprocessing
import numbers
import os
import pickle
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from nlp_underspec.errors import UsageError

BATCHED_SHAPE = ("score_fn {name} is declared batched, so a call on stacked arrays y_true and y_pred of shape "
                 "[{rows}, {n}] must return {rows} scores (shape ({rows},)), got {got}. Reduce along the last axis "
                 "(e.g. np.mean(y_true == y_pred, axis=-1)), or drop the batched declaration to score one row at a "
                 "time.")
NOT_PICKLABLE = ("score_fn {name} cannot be sent to worker processes (workers={workers}): {error}. Define it with def "
                 "at module level, make it batched (nlp_underspec.analysis.batched_score), or use workers=1.")
BAD_WORKERS = ("workers must be None (the default) or a positive integer (1: one thread in this process), "
               "got {value!r}.")

_PROBE_ROWS = 8  # resamples in the detection probe
_BLOCK_ELEMENTS = 40_000  # elements per stacked call: the block and its temporaries stay in cache (measured)
_MAX_DEFAULT_THREADS = 4


class BatchedScore:
    """A score function declared batched: ``fn(y_true [k, n], y_pred [k, n]) -> [k]``; calling it scores one row.

    >>> acc = batched_score(lambda y_true, y_pred: np.mean(y_true == y_pred, axis=-1))
    >>> float(acc(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])))
    0.5
    >>> acc.batched, acc(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 0]])).tolist()
    (True, [1.0, 0.0])
    """

    batched = True

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str | None = None):
        self.fn = fn
        self.__name__ = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, y_true, y_pred):
        result = self.fn(np.asarray(y_true), np.asarray(y_pred))
        return result[()] if isinstance(result, np.ndarray) and result.ndim == 0 else result

    def __repr__(self) -> str:
        return f"BatchedScore({self.__name__})"


def batched_score(fn: Callable | None = None, *, name: str | None = None):
    """Declare ``fn`` batched (a decorator, with or without ``name=``): the bootstrap scores stacks of resamples.

    >>> @batched_score
    ... def accuracy_rows(y_true, y_pred):
    ...     return np.mean(y_true == y_pred, axis=-1)
    >>> accuracy_rows
    BatchedScore(accuracy_rows)
    """
    if fn is None:
        return lambda inner: BatchedScore(inner, name)
    return BatchedScore(fn, name)


def is_declared_batched(score_fn) -> bool:
    """True for :class:`BatchedScore` and any callable with ``batched = True``."""
    return getattr(score_fn, "batched", False) is True


def score_name(score_fn) -> str:
    name = getattr(score_fn, "__name__", None) or type(score_fn).__name__
    return f"'{name}'"


def check_workers(workers) -> int | None:
    """``None`` (the default: threads for a batched function, this process otherwise) or a positive integer."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise UsageError(BAD_WORKERS.format(value=workers))
    return int(workers)


# ------------------------------------------------------------------------------------------------ stacked calls
class _WrongShape(Exception):
    """A stacked call returned something other than one score per row; the message says what came back."""


def _stacked_call(score_fn, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``score_fn`` on ``[k, n]`` stacks; the result as float64 ``(k,)``, or :class:`_WrongShape`."""
    result = score_fn(y_true, y_pred)
    shape = getattr(result, "shape", None)
    if shape is None:
        raise _WrongShape(f"a {type(result).__name__}")
    if tuple(shape) != (len(y_true),):
        raise _WrongShape(f"shape {tuple(shape)}")
    return np.asarray(result, dtype=np.float64)


def passes_probe(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray) -> bool:
    """True when one stacked call on a few real resamples returns each row's single call, exactly (NaN = NaN)."""
    rows = np.arange(min(_PROBE_ROWS, len(draws)))
    runs = rows % len(preds)  # a different run per resample where there are several
    y_true = np.ascontiguousarray(labels[draws[rows]])
    y_pred = np.ascontiguousarray(preds[runs[:, None], draws[rows]])
    try:
        stacked = _stacked_call(score_fn, y_true, y_pred)
        single = np.asarray([score_fn(y_true[k], y_pred[k]) for k in range(len(rows))], dtype=np.float64)
    except Exception:  # noqa: BLE001 - a function that cannot take stacks is simply scored row by row
        return False
    return bool(np.array_equal(stacked, single, equal_nan=True))


def _score_run_group(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray, iterations: np.ndarray,
                     runs: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[iterations, runs]``: per block of those iterations, one stacked call per run on ``[block, n]``
    arrays; the labels' block is gathered once for all ``runs`` (they share ``iterations``)."""
    n = draws.shape[1]
    step = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, len(iterations), step):
        rows = iterations[start:start + step]
        block = draws[rows]
        y_true = np.take(labels, block)  # (block, n), C-contiguous
        for i in runs:
            try:
                out[rows, i] = _stacked_call(score_fn, y_true, np.take(preds[i], block))
            except _WrongShape as error:
                raise UsageError(BATCHED_SHAPE.format(name=score_name(score_fn), rows=len(block), n=n,
                                                      got=error)) from None


def needed_groups(needed: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(iterations, runs)`` per set of runs needed at the same iterations (a seed's runs: where its seed was drawn).

    A sample averages only the runs of the seeds it drew, so a run of a seed not drawn in an iteration is never read
    there; skipping it saves a third of the calls at 25 seeds (a draw of k from k leaves out ~(1 - 1/k)^k = 36%).
    """
    patterns, group_of_run = np.unique(needed.T, axis=0, return_inverse=True)
    group_of_run = np.ravel(group_of_run)
    return [(np.flatnonzero(pattern), np.flatnonzero(group_of_run == g)) for g, pattern in enumerate(patterns)
            if pattern.any()]


def _integer_valued(values: np.ndarray, n: int) -> bool:
    """True when every sum of ``n`` of ``values`` is exact in float64: finite integers, small enough."""
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values))
                and float(np.abs(values).max(initial=0.0)) * n < 2.0**53)


def mean_form_values(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray) -> np.ndarray | None:
    """``(n_runs, n)`` per-example values when the batched ``score_fn`` is their mean, else None.

    The values are ``score_fn`` on ``[n, 1]`` stacks (every example alone). They are used only when integer-valued (so
    a resample's mean is an exact sum over resampling counts, whatever the order) and when, on the probe resamples,
    ``score_fn``'s own result equals that mean exactly; accuracy-like functions then cost one matrix product.
    """
    n = len(labels)
    rows = np.arange(min(_PROBE_ROWS, len(draws)))
    runs = rows % len(preds)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a correlation of one example warns (0/0): it is simply not a mean
            alone = np.ascontiguousarray(labels.reshape(n, 1))
            values = np.stack([_stacked_call(score_fn, alone, np.ascontiguousarray(row.reshape(n, 1)))
                               for row in preds])  # (n_runs, n)
            if not _integer_valued(values, n):
                return None
            stacked = _stacked_call(score_fn, np.ascontiguousarray(labels[draws[rows]]),
                                    np.ascontiguousarray(preds[runs[:, None], draws[rows]]))
    except Exception:  # noqa: BLE001 - a function that cannot score single examples is scored in stacks
        return None
    counts = np.stack([np.bincount(draws[b], minlength=n) for b in rows]).astype(np.float64)
    expected = np.sum(counts * values[runs], axis=-1) / n  # exact integer sums, then the mean's division
    return values if np.array_equal(stacked, expected) else None


def batched_score_runs(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray, *, threads: int = 1,
                       needed: np.ndarray | None = None) -> np.ndarray:
    """``(nboot, n_runs)`` from stacked calls, NaN where ``needed`` (``(nboot, n_runs)`` bools, default all) is False.

    The groups of :func:`needed_groups` are shared among ``threads`` (numpy releases the GIL in gathers, ufuncs and
    reductions); each writes its own cells, so the numbers are the same in any schedule.
    """
    needed = np.ones((len(draws), len(preds)), dtype=bool) if needed is None else needed
    out = np.full((len(draws), len(preds)), np.nan)
    tasks = [(iterations, runs_part) for iterations, runs in needed_groups(needed)
             for runs_part in np.array_split(runs, max(1, min(threads, len(runs)))) if len(runs_part)]
    if threads <= 1 or len(tasks) == 1:
        for iterations, runs in tasks:
            _score_run_group(score_fn, preds, labels, draws, iterations, runs, out)
        return out
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(_score_run_group, score_fn, preds, labels, draws, iterations, runs, out)
                   for iterations, runs in tasks]
        for future in futures:
            future.result()  # the first task's error, if any, as in a serial run
    return out


def default_workers() -> int:
    """The cores this process may use (its CPU affinity where the platform tells), at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_DEFAULT_THREADS))


# ------------------------------------------------------------------------------------------------ row by row
def loop_score_runs(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray,
                    needed: np.ndarray | None = None) -> np.ndarray:
    """``(len(draws), n_runs)``: one call per needed run and iteration on that iteration's resampled examples (NaN
    where ``needed`` is False)."""
    out = np.full((len(draws), len(preds)), np.nan)
    for b, jj in enumerate(draws):
        runs = range(len(preds)) if needed is None else np.flatnonzero(needed[b])
        chosen = np.take(labels, jj)
        for i in runs:
            out[b, i] = score_fn(chosen, np.take(preds[i], jj))
    return out


def _pool_score_runs(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray, workers: int,
                     needed: np.ndarray | None) -> np.ndarray:
    try:
        pickle.dumps(score_fn)
    except Exception as error:  # noqa: BLE001 - pickling errors come in several types (PicklingError, AttributeError)
        raise UsageError(NOT_PICKLABLE.format(name=score_name(score_fn), workers=workers, error=error)) from None
    chunks = np.array_split(np.arange(len(draws)), workers * 4)
    context = multiprocessing.get_context("spawn")  # safe with threads and on every platform
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(loop_score_runs, score_fn, preds, labels, draws[chunk],
                               None if needed is None else needed[chunk])
                   for chunk in chunks if len(chunk)]
        return np.concatenate([future.result() for future in futures])  # in submission order: deterministic


def score_runs_any(score_fn, preds: np.ndarray, labels: np.ndarray, draws: np.ndarray, *, workers: int | None = None,
                   mean_runs: Callable[[np.ndarray], np.ndarray] | None = None,
                   needed: np.ndarray | None = None) -> np.ndarray:
    """``(nboot, n_runs)`` for any ``score_fn``: a batched mean of integer values through ``mean_runs(values)`` (the
    built-in means' exact path), another batched function in stacked calls (in ``workers`` threads, default
    :func:`default_workers`), else row by row (in this process, or in ``workers`` spawned processes). Calls are made
    only where ``needed`` (default: every run at every iteration); the cells skipped are NaN and must not be read."""
    if is_declared_batched(score_fn) or passes_probe(score_fn, preds, labels, draws):
        values = mean_form_values(score_fn, preds, labels, draws) if mean_runs is not None else None
        if values is not None:
            return mean_runs(values)
        return batched_score_runs(score_fn, preds, labels, draws, threads=workers or default_workers(), needed=needed)
    if workers is not None and workers > 1 and len(draws) > 1:
        return _pool_score_runs(score_fn, preds, labels, draws, workers, needed)
    return loop_score_runs(score_fn, preds, labels, draws, needed)
