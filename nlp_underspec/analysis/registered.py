"""What the seed analysis asks the stress-test registry about a test: the fine-tuning task whose network it scores,
the correlations that are findings only above a noise floor, its headline metrics and the name of its magnitude.

The registry is the one home of these facts (a plugin declares its own); a test name the registry does not know
(scores written by another tool) gets the answers that claim least: no paired task, no signal metrics, no headline.
"""

from __future__ import annotations

from nlp_underspec.errors import UsageError
from nlp_underspec.stress.registry import get_stress_test


def registered_test(test: str):
    """The registered stress test's class, or None for a name the registry does not know (looked up every time: a
    plugin may register after the first question)."""
    try:
        return type(get_stress_test(test))
    except UsageError:
        return None


def paired_task(test: str) -> str | None:
    """The fine-tuning task whose network ``test`` scores in a sweep (its ``pairs_with_task``), or None.

    >>> paired_task("not-a-test") is None
    True
    """
    return getattr(registered_test(test), "pairs_with_task", None)


def signal_metrics(test: str) -> tuple[str, ...]:
    """The correlations of ``test`` that mean nothing below its noise floor (its ``signal_metrics``)."""
    return tuple(getattr(registered_test(test), "signal_metrics", ()) or ())


def headline_metrics(test: str) -> tuple[str, ...]:
    """The metrics ``test`` is judged by, first the main one."""
    return tuple(getattr(registered_test(test), "headline", ()) or ())


def inheritance_first(test: str) -> bool:
    """True when ``test`` is listed before others among the metrics that may inherit a pretrained statistic."""
    return bool(getattr(registered_test(test), "inheritance_first", False))


def magnitude_name(test: str) -> str:
    """How a message names the quantity the noise floor bounds: ``mean |bias|`` for a per-occupation ``bias``."""
    per_occupation = getattr(registered_test(test), "per_occupation_metric", None)
    return f"mean |{per_occupation}|" if per_occupation else "the test's magnitude"


def magnitude_metric(test: str) -> str | None:
    """The summary metric that holds that magnitude (``mean_abs_bias``), when the test has a per-occupation score."""
    per_occupation = getattr(registered_test(test), "per_occupation_metric", None)
    return f"mean_abs_{per_occupation}" if per_occupation else None
