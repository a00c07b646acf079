"""How the report and the cards word a family's metrics: labels, readings, and the iid metrics a stress test is read
against. What a metric *is*, its label and its reading come from its stress test (the registry); the family itself is
read by :mod:`nlp_underspec.experiment.family`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nlp_underspec.analysis.registered import headline_metrics, paired_task, registered_test

DIRECTION_READINGS = {True: "better (task skill, not bias)", False: "larger gender gaps",
                      None: "a stronger effect in the positive direction (0 is none)"}
IID_PREFERENCE = ("dev_pearson", "dev_spearman", "dev_accuracy")


@dataclass(frozen=True)
class MetricText:
    """A metric in words: its short label, what it measures and what a higher value means."""

    label: str
    measures: str
    higher_means: str


def headline_metric(test: str) -> str | None:
    """The metric a stress test is judged by: the first of its registered headline metrics."""
    return next(iter(headline_metrics(test)), None)


def per_occupation_metric(test: str) -> str | None:
    """The metric of scores.parquet's per-occupation rows of a test (the registry's ``per_occupation_metric``)."""
    return getattr(registered_test(test), "per_occupation_metric", None)


def task_for_test(test: str) -> str | None:
    """The fine-tuning task whose network a stress test scores (the registry's ``pairs_with_task``), or None for a
    test that names none."""
    return paired_task(test)


def iid_candidates(test: str, available: Iterable[str] = ()) -> list[str]:
    """The iid metrics a stress test is read against, best first: only its own task's dev metrics (one network per
    pairing, docs/design.md, contract 8; a stress set's accuracy is a stress metric, not an iid one), the usual ones
    first, then any other of ``available`` from that task (a new head's own dev metric)."""
    task = task_for_test(test)
    if not task:
        return []
    preferred = [f"{task}/{metric}" for metric in IID_PREFERENCE]
    return preferred + [key for key in available if key.split("@")[0].startswith(f"{task}/") and key not in preferred]


def metric_info(test: str, metric: str) -> MetricText:
    """The label, description and reading of ``test``'s ``metric``; plain words for a test the registry lacks."""
    registered = registered_test(test)
    info = registered.metrics.get(metric) if registered is not None else None
    measures = info.description if info is not None else f"'{metric}' of the '{test}' stress test"
    readings = getattr(registered, "metric_readings", {}) if registered is not None else {}
    labels = getattr(registered, "metric_labels", {}) if registered is not None else {}
    reading = readings.get(metric) or (DIRECTION_READINGS[info.higher_is_better] if info is not None
                                       else "a larger value of this metric")
    return MetricText(labels.get(metric, f"{test} {metric}"), measures, reading)
