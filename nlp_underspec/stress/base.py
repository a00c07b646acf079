"""The anatomy every stress test shares (docs/design.md, contract 6), modelled on an ``evaluate`` module.

A stress test is three separable steps, so that the sweep, ``evaluate`` and ``score`` can each reuse the part they need:

1. ``build_items(source=..., ...)`` turns a dataset into ``label_info`` (one row per item, the columns of
   :attr:`StressTest.schema`, plus any text that lets a reader audit the derivation);
2. ``predict(checkpoint=..., label_info=..., options=...)`` turns one model into ``preds[n_items]``;
3. ``score(preds=..., label_info=..., where=...)`` reads only those two (the predictions triplet) and returns the
   contract-5 numbers plus one value per occupation.

Direction of a metric (:attr:`MetricInfo.higher_is_better`): ``True`` (↑, e.g. accuracy), ``False`` (↓, e.g. a mean
absolute gap) or ``None`` (→0: a signed bias correlation, where 0 means no association with the share of women and
either sign means the model encodes gender; "higher" is not "better").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

import numpy as np
import pandas as pd

from nlp_underspec.errors import UsageError

if TYPE_CHECKING:
    from nlp_underspec.synthetic import SyntheticSet

SCHEMA_MISSING_COLUMNS = ("{where} lacks column(s) {missing} that stress test '{test}' needs. Expected columns: "
                          "{expected}; received: {received}.")
SCHEMA_BAD_VALUE = "{where}, item '{item}': column '{column}' must be {kind}, got {value!r}."
UNKNOWN_STATS_OCCUPATION = ("{where} names occupation '{occupation}', which the occupation statistics lack. Score with "
                            "a stats table that covers it (--occupation-stats) or drop its items.")

PREDS_OUT_OF_RANGE = ("{path}, model '{model}', item '{item}': {test} predictions must lie in [{low}, {high}] "
                      "({meaning}); found {value!r}. Re-run the predictions for that model.")
TOO_FEW_OCCUPATIONS = ("{where}: {test} has {n} occupation(s); statistics across occupations need at least {minimum}, "
                       "so {metrics} are left empty (cannot tell). Score a set with more occupations.")
# Fewer points than this and a bootstrap over occupations resamples so few distinct values that its percentile
# interval is not a 95% interval (3 occupations gave bias_r -0.99 [-1.00, -0.99]); even at 10, Fisher's interval of a
# Pearson r of 0 spans +-0.63, so any figure from fewer says nothing.
MIN_OCCUPATIONS = 10

logger = logging.getLogger(__name__)
_warned_few: set[tuple[str, str, int]] = set()

_DTYPE_KIND = {"string": "text", "int32": "an integer", "int64": "an integer", "float32": "a number",
               "float64": "a number"}


@dataclass(frozen=True)
class MetricInfo:
    """One reported number: what it means, its range and which way is better (None: closer to 0 is less biased)."""

    description: str
    higher_is_better: bool | None
    range: tuple[float, float] | None = None

    @property
    def arrow(self) -> str:
        """↑, ↓ or →0, for tables."""
        return {True: "↑", False: "↓", None: "→0"}[self.higher_is_better]


@dataclass
class PredictOptions:
    """How to run a model; fields a test does not use are ignored (``extra`` carries plugin-specific ones)."""

    batch_size: int = 256  # sequences per batch; sorted by length, so little padding (64 was 2.5x slower on a busy CPU)
    device: str = "auto"
    trust_remote_code: bool = False
    sts_scorer: str = "auto"  # sts_gender: auto | cross | bi
    resolver: str = "auto"  # winogender: auto | mlm_probe | coref_head
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    """One model's predictions for one test, and run_info columns describing how they were made (``scorer``...)."""

    preds: np.ndarray  # (n_items,)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestScore:
    """``summary``: the contract-5 entry of one model for one test; ``per_occupation``: one value per occupation."""

    summary: dict[str, Any]
    per_occupation: pd.Series  # index: occupation


class StressTest:
    """Base class. Subclasses set the class attributes and implement :meth:`build_items`, :meth:`predict`, :meth:`score`.

    ``schema`` maps each ``label_info`` column that :meth:`score` reads to a ``datasets`` dtype name; :meth:`features`
    returns it as ``datasets.Features`` (the input schema of the evaluate-module wrapper).
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    schema: ClassVar[Mapping[str, str]] = {"item_id": "string"}
    # Closed vocabularies of schema columns (winogender's gender): a typo would otherwise drop its items from every
    # female/male comparison and move the numbers without a word.
    allowed_values: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    metrics: ClassVar[Mapping[str, MetricInfo]] = {}
    headline: ClassVar[tuple[str, ...]] = ()  # metrics shown in the terminal table
    per_occupation_metric: ClassVar[str | None] = None  # the scores.parquet metric of per-occupation rows
    data_option: ClassVar[str | None] = None  # the CLI flag (without --) that names this test's data, e.g. "stsb"
    default_source: ClassVar[str | None] = None  # the data used when none is given (None: data is required)
    run_info_columns: ClassVar[tuple[str, ...]] = ()  # keys of Prediction.info that go into run_info.tsv
    # The fine-tuning task whose network this test scores in a sweep (sts_gender: the stsb model); statistics that
    # relate an iid metric to a stress metric pair this test only with that task's dev metrics (one network).
    pairs_with_task: ClassVar[str | None] = None
    # Correlations that mean something only above the noise floor: when a model's summary says
    # ``below_noise_floor``, these are float leftovers (a Pearson r ignores scale), not findings.
    signal_metrics: ClassVar[tuple[str, ...]] = ()
    # Summary keys that are statistics across occupations (correlations, slopes, their intervals): empty, with one
    # warning, when a set has fewer than MIN_OCCUPATIONS occupations.
    across_occupations: ClassVar[tuple[str, ...]] = ()
    # The range a prediction must lie in (winogender: a probability) and what it is, checked where a triplet is read so
    # the message names preds.npy and the model, not the item table.
    prediction_range: ClassVar[tuple[float, float] | None] = None
    prediction_meaning: ClassVar[str] = ""

    # How every presentation names this test and its numbers: the report, its figures, the model cards and the sweep
    # ask here and never name a test themselves, so a plugin test is presented with no edit elsewhere.
    title: ClassVar[str] = ""  # the dataset name of the test in a model card's model-index, with its source paper
    card_task_type: ClassVar[str] = "text-classification"  # the Hub task type of the model-index entry
    metric_labels: ClassVar[Mapping[str, str]] = {}  # short labels of metrics in figures and tables
    metric_readings: ClassVar[Mapping[str, str]] = {}  # what a higher value of a metric means, in words
    per_occupation_label: ClassVar[str] = ""  # the axis label of the per-occupation value (a formula)
    per_occupation_description: ClassVar[str] = ""  # the per-occupation value in words, for figure captions
    runs_on_pretrained: ClassVar[bool] = False  # a masked LM can take it before fine-tuning (scored in pretrained/)
    # The test's set in the synthetic world, written with the world's stress sets (nlp_underspec.stress.synthetic_sets);
    # None: the test has no synthetic set (its data always comes from a path).
    synthetic_set: ClassVar[SyntheticSet | None] = None
    # Listed before other tests where the analysis asks which metrics inherit a pretrained checkpoint's statistic.
    inheritance_first: ClassVar[bool] = False

    # How the seed analysis reads a predictions triplet of this test (each built-in's ``triplet_metrics`` module):
    # metric -> ``reader(predictions, occupation_stats) -> ExampleSet`` (the examples the Multi-Bootstrap resamples),
    # and ``profile(predictions) -> DataFrame`` (models x occupations for clustering, models x items for PCA). A test
    # without them gets its metrics analysed from scores.parquet alone.
    triplet_metrics: ClassVar[Mapping[str, Callable]] = {}
    occupation_profile: ClassVar[Callable | None] = None
    item_profile: ClassVar[Callable | None] = None
    # ``labels(predictions) -> DataFrame``: one row per column of ``item_profile`` (indexed by it) with that item's
    # label_info columns; the seed-unstable items are grouped by its ``template_id`` / ``occupation`` where it has them.
    item_labels: ClassVar[Callable | None] = None
    # How the CLI asks for this test's data (``--<data_option>``, generated from the registry): what the flag takes,
    # the splits a folder or Hub source has (``--<data_option>-split``, recipe ``evaluate.<data_option>_split``) and
    # the split read by default; and a line the results table adds below its columns when this test is in it.
    data_help: ClassVar[str] = ""
    data_splits: ClassVar[tuple[str, ...]] = ()
    default_split: ClassVar[str | None] = None
    table_legend: ClassVar[str] = ""

    @classmethod
    def occupation_stats_file(cls, source: str | None) -> Path | None:
        """Occupation statistics shipped beside this test's data at ``source``, used when none are given (None:
        none)."""
        return None

    # ------------------------------------------------------------------------------------------------ anatomy
    @classmethod
    def features(cls):
        """The declared ``label_info`` schema as ``datasets.Features``."""
        import datasets

        return datasets.Features({column: datasets.Value(dtype) for column, dtype in cls.schema.items()})

    @classmethod
    def higher_is_better(cls) -> dict[str, bool | None]:
        return {name: info.higher_is_better for name, info in cls.metrics.items()}

    @classmethod
    def folder(cls) -> Path:
        """The test's folder: its card (README.md) and its evaluate-module file ``<name>.py``."""
        import importlib

        module = importlib.import_module(cls.__module__)
        return Path(module.__file__).resolve().parent

    @classmethod
    def card_path(cls) -> Path:
        return cls.folder() / "README.md"

    @classmethod
    def card_task_type_for(cls, test_summary: Mapping[str, Any]) -> str:
        """The model-index task type of one model's entry; a test whose task depends on how it was run overrides it."""
        return cls.card_task_type

    # ------------------------------------------------------------------------------------------------ steps
    def build_items(self, *, source: str, split: str | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def predict(self, *, checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> Prediction:
        raise NotImplementedError

    def check_model(self, *, checkpoint: str, options: PredictOptions) -> dict[str, Any]:
        """Fail fast (before any model runs) if ``checkpoint`` cannot take this test; return what predict will use."""
        return {}

    def score(self, *, preds: np.ndarray, label_info: pd.DataFrame, occupation_stats: pd.DataFrame | None = None,
              n_boot: int = 1000, seed: int = 0, model_info: Mapping[str, Any] | None = None,
              where: str = "label_info.tsv") -> TestScore:
        """The contract-5 numbers of one model; ``where`` names the item table in messages (the triplet's file)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------ helpers
    def check_label_info(self, label_info: pd.DataFrame, *, where: str = "label_info.tsv") -> pd.DataFrame:
        """Check ``label_info`` against :attr:`schema` and return a copy with typed columns (expected vs received)."""
        missing = [column for column in self.schema if column not in label_info.columns]
        if missing:
            expected = ", ".join(f"{c} ({t})" for c, t in self.schema.items())
            raise UsageError(SCHEMA_MISSING_COLUMNS.format(where=where, missing=", ".join(missing), test=self.name,
                                                           expected=expected,
                                                           received=", ".join(map(str, label_info.columns))))
        frame = label_info.copy()
        for column, dtype in self.schema.items():
            frame[column] = _typed_column(frame, column, dtype, where=where)
        for column, allowed in self.allowed_values.items():
            bad = ~frame[column].isin(allowed)
            if bad.any():
                index = int(bad.to_numpy().nonzero()[0][0])
                raise UsageError(SCHEMA_BAD_VALUE.format(where=where, item=frame["item_id"].iloc[index], column=column,
                                                         kind="one of " + ", ".join(allowed),
                                                         value=label_info[column].iloc[index]))
        return frame

    def check_prediction_range(self, preds: np.ndarray, *, path: str, models: list[str], items: list[str]) -> None:
        """``preds`` [n_models, n_items] within :attr:`prediction_range`; else one error naming model and item."""
        if self.prediction_range is None:
            return
        low, high = self.prediction_range
        outside = (preds < low) | (preds > high)
        if outside.any():
            row, col = (int(i[0]) for i in np.nonzero(outside))
            raise UsageError(PREDS_OUT_OF_RANGE.format(path=path, model=models[row], item=items[col], test=self.name,
                                                       low=low, high=high, meaning=self.prediction_meaning,
                                                       value=float(preds[row, col])))

    def withhold_if_few_occupations(self, summary: dict[str, Any], n_occupations: int, *, where: str) -> dict[str, Any]:
        """``summary`` with its :attr:`across_occupations` entries set to None when there are too few occupations."""
        if n_occupations >= MIN_OCCUPATIONS or not self.across_occupations:
            return summary
        key = (self.name, where, n_occupations)
        if key not in _warned_few:  # once per set, not once per model
            _warned_few.add(key)
            logger.warning(TOO_FEW_OCCUPATIONS.format(where=where, test=self.name, n=n_occupations,
                                                      minimum=MIN_OCCUPATIONS, metrics=", ".join(self.across_occupations)))
        return {k: (None if k in self.across_occupations else v) for k, v in summary.items()}

    def tidy_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, float]]:
        """The numeric entries of a summary as (metric, value): an interval ``<name>ci95`` becomes ``<name>ci95_low``
        / ``<name>ci95_high``; a flag (``below_noise_floor``) becomes 1.0 / 0.0. An undefined value (NaN: e.g. the r of
        a saturated head's constant hard predictions) has no row: scores.parquet holds finite values (contract 4), and
        summary.json keeps it as null."""
        rows = []
        for key, value in summary.items():
            if key.endswith("ci95"):
                if value is not None:
                    rows += [(f"{key}_low", float(value[0])), (f"{key}_high", float(value[1]))]
            elif isinstance(value, (bool, np.bool_)):
                rows.append((key, float(value)))
            elif isinstance(value, (int, float, np.integer, np.floating)):
                rows.append((key, float(value)))
        return [(key, value) for key, value in rows if np.isfinite(value)]


def _typed_column(frame: pd.DataFrame, column: str, dtype: str, *, where: str) -> pd.Series:
    values = frame[column]
    if dtype == "string":
        return values.astype(str)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna()
    if dtype.startswith("int"):
        bad |= converted.notna() & (converted != converted.round())
    if bad.any():
        index = int(bad.to_numpy().nonzero()[0][0])
        item = frame["item_id"].iloc[index] if "item_id" in frame.columns else index
        raise UsageError(SCHEMA_BAD_VALUE.format(where=where, item=item, column=column,
                                                 kind=_DTYPE_KIND.get(dtype, dtype), value=values.iloc[index]))
    return converted.astype("int64") if dtype.startswith("int") else converted.astype(float)


def bls_share(occupations: pd.Index | list[str], occupation_stats: pd.DataFrame, *, where: str) -> np.ndarray:
    """BLS % female for each occupation, in order; an occupation absent from the stats is a user error."""
    for occupation in occupations:
        if occupation not in occupation_stats.index:
            raise UsageError(UNKNOWN_STATS_OCCUPATION.format(where=where, occupation=occupation))
    return occupation_stats.loc[list(occupations), "bls_pct_female"].to_numpy(dtype=float)


def bootstrap_correlation_ci(x: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int,
                             level: float = 0.95) -> list[float] | None:
    """Percentile CI of Pearson r, resampling the paired points (occupations) with replacement.

    Vectorised over resamples; resamples in which x or y is constant have no r and are dropped. The same ``seed``
    gives the same resamples for every model (a paired comparison). None when fewer than 3 points.

    >>> x = np.arange(10.0); y = x + np.array([0, 1, -1, 0, 1, -1, 0, 1, -1, 0.0])
    >>> low, high = bootstrap_correlation_ci(x, y, n_boot=200, seed=0)
    >>> 0.8 < low < high <= 1.0
    True
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 3 or n_boot < 1:
        return None
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(n_boot, n))  # (n_boot, n)
    xs, ys = x[index], y[index]  # (n_boot, n)
    xs = xs - xs.mean(axis=1, keepdims=True)
    ys = ys - ys.mean(axis=1, keepdims=True)
    denominator = np.sqrt((xs**2).sum(axis=1) * (ys**2).sum(axis=1))  # (n_boot,)
    valid = denominator > 1e-12
    if not valid.any():
        return None
    r = (xs * ys).sum(axis=1)[valid] / denominator[valid]
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(r, [tail, 100.0 - tail])
    return [float(low), float(high)]


def ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y`` on ``x``; NaN when ``x`` is constant or fewer than 2 points.

    >>> round(ols_slope(np.array([0.0, 0.5, 1.0]), np.array([0.1, 0.2, 0.3])), 6)
    0.2
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return float("nan")
    xm = x - x.mean()
    return float((xm * (y - y.mean())).sum() / (xm**2).sum())


def bootstrap_share_ci(hits: np.ndarray, counts: np.ndarray, *, n_boot: int, seed: int,
                       level: float = 0.95) -> list[float] | None:
    """Percentile CI of ``sum(hits) / sum(counts)`` (an accuracy), resampling the groups (occupations) with
    replacement: a cluster bootstrap, since sentences of one occupation share its templates and are not independent.

    Drawn as :func:`bootstrap_correlation_ci` draws (the same ``seed`` and number of groups give the same resampled
    indices). None when fewer than 3 groups.

    >>> bootstrap_share_ci(np.array([2.0, 2.0, 2.0]), np.array([4.0, 4.0, 4.0]), n_boot=50, seed=0)
    [0.5, 0.5]
    """
    hits, counts = np.asarray(hits, dtype=float), np.asarray(counts, dtype=float)
    n = len(hits)
    if n < 3:
        return None
    index = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))  # (n_boot, n)
    totals = counts[index].sum(axis=1)  # (n_boot,)
    valid = totals > 0
    if not valid.any():
        return None
    shares = hits[index].sum(axis=1)[valid] / totals[valid]
    tail = (1.0 - level) / 2.0 * 100.0
    return [float(np.percentile(shares, tail)), float(np.percentile(shares, 100.0 - tail))]


def bootstrap_slope_ci(x: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int,
                       level: float = 0.95) -> list[float] | None:
    """Percentile CI of the least-squares slope of ``y`` on ``x``, resampling the paired points (occupations).

    Drawn as :func:`bootstrap_correlation_ci` draws (same ``seed``, same resamples), so a model's r and slope
    intervals come from the same resampled occupations. None when fewer than 3 points.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 3 or n_boot < 1:
        return None
    index = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))  # (n_boot, n)
    xs, ys = x[index], y[index]
    xs = xs - xs.mean(axis=1, keepdims=True)
    sxx = (xs**2).sum(axis=1)  # (n_boot,)
    valid = sxx > 1e-12
    if not valid.any():
        return None
    slopes = (xs * (ys - ys.mean(axis=1, keepdims=True))).sum(axis=1)[valid] / sxx[valid]
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(slopes, [tail, 100.0 - tail])
    return [float(low), float(high)]


def correlations(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Pearson r, Spearman rho); NaN when either side is constant or fewer than 3 points."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    return float(stats.pearsonr(x, y).statistic), float(stats.spearmanr(x, y).statistic)
