"""The examples the seed analysis resamples for a stress test's metric, asked of the test itself.

Each stress test holds its own triplet readers (``StressTest.triplet_metrics``: metric -> reader) and its profiles
(``occupation_profile`` for clustering, ``item_profile`` for PCA), with the scorer's definitions and sign conventions
(docs/design.md, contract 5; positive = in line with the share of women in the occupation). The mappings here look
them up in the registry every time, so a plugin test registered later is read like a built-in. The score machinery
(:class:`~nlp_underspec.stress.examples.MeanScore`, :class:`~nlp_underspec.stress.examples.ExampleSet`, ...) lives in
:mod:`nlp_underspec.stress.examples`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pandas as pd

from nlp_underspec.errors import UsageError
from nlp_underspec.stress.examples import ExampleSet
from nlp_underspec.stress.registry import available_stress_tests, get_stress_test
from nlp_underspec.triplet import Predictions

NO_TRIPLET_METRIC = "No triplet score for {test}/{metric}. Available: {available}."

Reader = Callable[[Predictions, "pd.DataFrame | None"], ExampleSet]


def _test_class(name: str):
    try:
        return type(get_stress_test(name))
    except UsageError:
        return None  # scores written by another tool name a test the registry does not know: it has no readers


class _TripletMetrics(Mapping):
    """``(test, metric) -> reader`` over every registered test's ``triplet_metrics``."""

    def __getitem__(self, key: tuple[str, str]) -> Reader:
        test, metric = key
        cls = _test_class(test)
        readers = getattr(cls, "triplet_metrics", {}) if cls is not None else {}
        return readers[metric]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for test in available_stress_tests():
            for metric in _test_class(test).triplet_metrics:
                yield test, metric

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Profiles(Mapping):
    """``test -> profile(predictions)`` for the registered tests that declare the profile ``attribute``."""

    def __init__(self, attribute: str):
        self.attribute = attribute

    def __getitem__(self, test: str) -> Callable[[Predictions], pd.DataFrame]:
        cls = _test_class(test)
        profile = getattr(cls, self.attribute, None) if cls is not None else None
        if profile is None:
            raise KeyError(test)
        return profile

    def __iter__(self) -> Iterator[str]:
        return iter([test for test in available_stress_tests() if getattr(_test_class(test), self.attribute)])

    def __len__(self) -> int:
        return len(list(iter(self)))


# (test, metric) -> reader; the metric names are the scorers' (scores.parquet rows).
TRIPLET_METRICS: Mapping[tuple[str, str], Reader] = _TripletMetrics()
# Per-occupation profiles (clustering) and per-item deviations (PCA) of each stress test.
OCCUPATION_PROFILES: Mapping[str, Callable[[Predictions], pd.DataFrame]] = _Profiles("occupation_profile")
ITEM_PROFILES: Mapping[str, Callable[[Predictions], pd.DataFrame]] = _Profiles("item_profile")
# What each item of a per-item profile is (its label_info row: template, occupation, ...), for the unstable items.
ITEM_LABELS: Mapping[str, Callable[[Predictions], pd.DataFrame]] = _Profiles("item_labels")


def example_set(*, test: str, metric: str, predictions: Predictions,
                occupation_stats: pd.DataFrame | None = None) -> ExampleSet:
    """The resampling units, labels and score function of ``test/metric`` for a triplet.

    Each registered test names its readers (``StressTest.triplet_metrics``); an unknown pair lists those there are.
    """
    reader = TRIPLET_METRICS.get((test, metric))
    if reader is None:
        available = ", ".join(f"{t}/{m}" for t, m in TRIPLET_METRICS)
        raise UsageError(NO_TRIPLET_METRIC.format(test=test, metric=metric, available=available))
    return reader(predictions, occupation_stats)
