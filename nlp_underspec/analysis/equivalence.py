"""iid equivalence: does the family meet the premise of underspecification, models alike in distribution?

A stress spread is evidence of underspecification only among models that are equivalent on the iid test (D'Amour et
al. 2020). This statement gives, per iid metric, the family's range (min, max, max - min) against a declared margin and
says whether the family is within it. Margins default to :data:`DEFAULT_MARGINS` (by metric name: one accuracy point,
0.03 of a correlation) and are overridden per ``task/metric`` or per metric name (``--iid-margin
coref/dev_accuracy=0.02``); an iid metric without a margin (e.g. ``dev_loss``) is reported but not judged.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from nlp_underspec.analysis.family import MetricValues
from nlp_underspec.errors import UsageError, unknown_name_message

DEFAULT_MARGINS = {"dev_accuracy": 0.01, "dev_pearson": 0.03, "dev_spearman": 0.03}
RANGE_TOLERANCE = 1e-12  # a range equal to the margin, up to float error, is within it

BAD_MARGIN = "iid margin for {key} must be a positive number, got {value!r} (e.g. coref/dev_accuracy=0.02)."
BAD_MARGIN_SPEC = ("--iid-margin takes METRIC=MARGIN, e.g. coref/dev_accuracy=0.02 or dev_pearson=0.05; got "
                   "{spec!r}.")
NO_IID_METRIC = ("no iid metric (a fine-tuning task's dev score) in this family: iid equivalence, the premise of "
                 "underspecification, cannot be checked")
FEW_MODELS = "{key}: a range needs at least 2 models, found {n}"


def parse_margin(spec: str) -> tuple[str, float]:
    """``"coref/dev_accuracy=0.02"`` -> ``("coref/dev_accuracy", 0.02)`` (the CLI's ``--iid-margin``)."""
    key, sep, value = spec.partition("=")
    try:
        margin = float(value)
    except ValueError:
        raise UsageError(BAD_MARGIN_SPEC.format(spec=spec)) from None
    if not sep or not key.strip():
        raise UsageError(BAD_MARGIN_SPEC.format(spec=spec))
    return key.strip(), check_margin(key.strip(), margin)


def check_margin(key: str, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise UsageError(BAD_MARGIN.format(key=key, value=value))
    return float(value)


def check_margins(margins: Mapping[str, float] | None, metrics: list[MetricValues]) -> dict[str, float]:
    """The caller's margins, each a positive number naming an iid metric of the family (``task/metric`` or
    ``metric``)."""
    margins = dict(margins or {})
    iid = [m for m in metrics if m.kind == "iid"]
    known = {f"{m.test}/{m.metric}" for m in iid} | {m.metric for m in iid}
    for key, value in margins.items():
        if key not in known:
            raise UsageError(unknown_name_message("iid metric", key, known) + " (--iid-margin names an iid metric of "
                             "this family)")
        check_margin(key, value)
    return {key: float(value) for key, value in margins.items()}


def margin_for(metric: MetricValues, margins: Mapping[str, float]) -> tuple[float | None, str | None]:
    """The margin that applies to ``metric`` and where it came from (``declared`` or ``default``)."""
    for key in (f"{metric.test}/{metric.metric}", metric.metric):
        if key in margins:
            return margins[key], "declared"
    if metric.metric in DEFAULT_MARGINS:
        return DEFAULT_MARGINS[metric.metric], "default"
    return None, None


def _metric_range(metric: MetricValues, margins: Mapping[str, float]) -> dict:
    values = metric.values.to_numpy(dtype=float)
    if len(values) < 2:
        raise UsageError(FEW_MODELS.format(key=metric.key, n=len(values)))
    low, high = float(values.min()), float(values.max())
    margin, source = margin_for(metric, margins)
    entry = {"iid": metric.key, "test": metric.test, "metric": metric.metric, "n": int(len(values)), "min": low,
             "max": high, "range": high - low, "margin": margin, "margin_source": source,
             "within": None if margin is None else bool(high - low <= margin + RANGE_TOLERANCE)}
    return entry


def iid_equivalence(metrics: list[MetricValues], *, margins: Mapping[str, float] | None = None) -> dict:
    """The ``iid_equivalence`` statement over the population that has iid metrics (fine-tuned models first).

    ``equivalent`` is True when every iid metric with a margin is within it, False when one is not, None when no iid
    metric has a margin; ``metrics`` lists each iid metric's range (``within`` None: no margin, not judged).
    """
    margins = dict(margins or {})
    iid = [m for m in metrics if m.kind == "iid"]
    if not iid:
        raise UsageError(NO_IID_METRIC)
    population = "finetuned" if any(m.population == "finetuned" for m in iid) else iid[0].population
    chosen = [m for m in iid if m.population == population]
    entries = [_metric_range(m, margins) for m in chosen if len(m.values) >= 2]
    if not entries:
        raise UsageError(FEW_MODELS.format(key=chosen[0].key, n=len(chosen[0].values)))
    judged = [e["within"] for e in entries if e["within"] is not None]
    models = set()
    for metric in chosen:
        models |= set(metric.values.index.get_level_values("model"))
    return {"population": population, "n_models": len(models), "tasks": sorted({m.test for m in chosen}),
            "equivalent": (all(judged) if judged else None), "metrics": entries,
            "undeclared": [e["iid"] for e in entries if e["margin"] is None]}
