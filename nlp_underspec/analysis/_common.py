"""Checks and helpers every analysis module shares: random generators, finite values, seed labels of a family.

Validation happens once, at the public boundary of each statement; the helpers here hold the messages those checks
raise, so the same mistake reads the same wherever it is caught.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from nlp_underspec.errors import UsageError
# The index levels of a family's values, defined beside the triplet readers that build them.
from nlp_underspec.stress.examples import MODEL_INDEX, MODEL_LEVEL, RUN_LEVEL, SEED_LEVEL  # noqa: F401

PRETRAINED_SUFFIX = "@pretrained"  # metric keys of the pretrained checkpoints when both populations are present
# A bootstrap over k units has C(2k-1, k) distinct resamples (10 at k = 3, 462 at k = 6, 1716 at k = 7). Below this
# many, its percentile interval is a few atoms of a coarse distribution, however many draws are taken.
RELIABLE_RESAMPLES = 1000
UNIT_WORDS = {SEED_LEVEL: "pretraining seeds", MODEL_LEVEL: "models"}
FEW_RESAMPLES = ("only {distinct} distinct resamples of {k} {units} exist: the interval is not trustworthy (it needs "
                 "at least {needed} {units} for {reliable} or more)")

BAD_RNG = ("rng must be an integer seed, a numpy.random.Generator or a numpy.random.RandomState, got {kind}. "
           "Pass rng=0 (or any seed) for reproducible draws.")
NAN_VALUES = "{what} holds {count} NaN/inf value(s) (first: {first}). Drop those runs or re-score them before the analysis."
NO_SEED_LEVEL = ("{what} has no '{level}' index level or column (found: {found}). Index the values by "
                 "(pretrain_seed, finetune_seed), e.g. scores.set_index(['pretrain_seed', 'finetune_seed'])['value'].")
MISSING_SEEDS = ("{what}: {count} value(s) have no {level} (first: {first}). A seed analysis needs the seed of every run; "
                 "fill run_info/scores or drop those models.")
BAD_LEVEL = "{name} must be a confidence level strictly between 0 and 1 (e.g. 0.95), got {c!r}."
NOT_FINITE_NUMBER = "{name} must be a finite number, got {value!r}."
BAD_COUNT = "{name} must be a positive integer, got {value!r}."


def plain(value):
    """Python scalars for messages: ``(0, 1)`` rather than ``(np.int64(0), np.int64(1))``."""
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def describe_entry(index: pd.Index, position: int) -> str:
    """How a message names one run: its model when the index has a ``model`` level, else the index entry."""
    if MODEL_LEVEL in (index.names or ()):
        return f"model '{index.get_level_values(MODEL_LEVEL)[position]}'"
    return repr(plain(index[position]))


def default_generator(rng) -> np.random.Generator:
    """A ``Generator`` from an int seed or a Generator (RandomState is wrapped so its stream still drives the draws)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**31 - 1))
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise UsageError(BAD_RNG.format(kind=type(rng).__name__))


def check_level(c: float, *, name: str = "c") -> float:
    """``c`` in (0, 1); ``name`` is what the user set (``--level`` on the command line)."""
    if not isinstance(c, numbers.Real) or isinstance(c, bool) or not 0.0 < float(c) < 1.0:
        raise UsageError(BAD_LEVEL.format(name=name, c=plain(c)))
    return float(c)


def check_finite_number(name: str, value) -> float:
    """A finite real: a NaN threshold compares false with everything (a share of 0, reported as a finding)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(float(value)):
        raise UsageError(NOT_FINITE_NUMBER.format(name=name, value=plain(value)))
    return float(value)


def check_count(name: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise UsageError(BAD_COUNT.format(name=name, value=value))
    return int(value)


def check_finite(values: np.ndarray, *, what: str, labels=None) -> None:
    """Refuse NaN/inf; ``labels(i)`` names the flat position of the first bad value for the message."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise UsageError(NAN_VALUES.format(what=what, count=int(bad.sum()),
                                           first=labels(first) if labels else f"position {first}"))


def percentile_interval(samples, c: float) -> list[float] | None:
    """The central ``c`` percentile interval (numpy's default linear quantiles, as the MultiBERTs reference); NaN
    samples (undefined resamples) are dropped; None when none is left."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return None
    low, high = np.quantile(samples, [(1 - c) / 2, 1 - (1 - c) / 2])
    return [float(low), float(high)]


def seed_labels(values: pd.Series, *, what: str, level: str = SEED_LEVEL) -> np.ndarray:
    """The ``level`` label of every value (index level or, for a frame's column, taken as is); NA refused."""
    if level in (values.index.names or ()):
        labels = values.index.get_level_values(level)
    else:
        raise UsageError(NO_SEED_LEVEL.format(what=what, level=level,
                                              found=", ".join(map(str, values.index.names))))
    missing = pd.isna(labels)
    if missing.any():
        first = describe_entry(values.index, int(np.flatnonzero(missing)[0]))
        raise UsageError(MISSING_SEEDS.format(what=what, count=int(missing.sum()), level=level, first=first))
    return np.asarray(labels)


def finite_series(values, *, what: str) -> pd.Series:
    """A float Series with its index kept; NaN/inf refused with the index of the first one."""
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    series = pd.to_numeric(values, errors="coerce").astype(float)
    check_finite(series.to_numpy(), what=what, labels=lambda i: describe_entry(series.index, i))
    return series


def populations(frame: pd.DataFrame) -> np.ndarray:
    """``pretrained`` for rows without a fine-tuning seed (checkpoints, evaluated models), else ``finetuned``."""
    return np.where(frame[RUN_LEVEL].isna(), "pretrained", "finetuned")


def distinct_resamples(k: int) -> int:
    """How many different multisets a bootstrap draw of ``k`` units can give: C(2k - 1, k).

    >>> distinct_resamples(3), distinct_resamples(6), distinct_resamples(7)
    (10, 462, 1716)
    """
    return math.comb(2 * k - 1, k) if k > 0 else 0


def _units_needed() -> int:
    k = 1
    while distinct_resamples(k) < RELIABLE_RESAMPLES:
        k += 1
    return k


def resampling_reliability(k: int, unit: str) -> dict:
    """The fields every seed-resampling interval carries: ``n_units``, ``distinct_resamples``, ``reliable`` (and a
    ``reliability_note`` when it is not).

    >>> resampling_reliability(3, "pretrain_seed")["reliability_note"]
    'only 10 distinct resamples of 3 pretraining seeds exist: the interval is not trustworthy (it needs at least 7 pretraining seeds for 1000 or more)'
    """
    distinct = distinct_resamples(k)
    entry = {"n_units": int(k), "distinct_resamples": distinct, "reliable": distinct >= RELIABLE_RESAMPLES}
    if not entry["reliable"]:
        units = UNIT_WORDS.get(unit, unit)
        entry["reliability_note"] = FEW_RESAMPLES.format(distinct=distinct, k=k, units=units, needed=_units_needed(),
                                                         reliable=RELIABLE_RESAMPLES)
    return entry


def resampling_units(index: pd.Index) -> tuple[np.ndarray, str]:
    """What a family bootstrap resamples: whole pretraining seeds (their runs are not independent) when every run has
    one and there are at least 2, else single models."""
    if SEED_LEVEL in (index.names or ()):
        seeds = index.get_level_values(SEED_LEVEL)
        if not pd.isna(seeds).any() and len(pd.unique(seeds)) >= 2:
            return np.asarray(seeds), SEED_LEVEL
    return np.arange(len(index)), MODEL_LEVEL


def cluster_resamples(units: np.ndarray, *, nboot: int, generator: np.random.Generator) -> list[np.ndarray]:
    """``nboot`` row selections: draw units with replacement, keep all rows of each drawn unit."""
    names, inverse = np.unique(units, return_inverse=True)
    rows = [np.flatnonzero(inverse == k) for k in range(len(names))]
    draws = generator.integers(0, len(names), size=(nboot, len(names)))  # (nboot, n_units)
    return [np.concatenate([rows[k] for k in draw]) for draw in draws]


def stacked_by_length(selections: list[np.ndarray]) -> list[np.ndarray]:
    """Row selections grouped into ``(n_selections, length)`` stacks of equal length, so a statistic can be computed
    for a whole stack along its last axis (one stack when every seed has as many runs)."""
    groups: dict[int, list[np.ndarray]] = {}
    for rows in selections:
        groups.setdefault(len(rows), []).append(rows)
    return [np.stack(group) for _, group in sorted(groups.items())]
