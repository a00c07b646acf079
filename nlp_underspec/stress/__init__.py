"""Stress tests: the registry, the shared anatomy, and the built-in tests (``sts_gender``, ``winogender`` and
``calibration``, the pretrained masked LM's pronoun prior).

>>> from nlp_underspec.stress import available_stress_tests, get_stress_test
>>> {"sts_gender", "winogender"} <= set(available_stress_tests())
True
>>> get_stress_test("winogender").metrics["bias_r"].arrow
'→0'
"""

from pathlib import Path  # noqa: F401 (the doctest below uses it)

from nlp_underspec.stress.base import (MetricInfo, Prediction, PredictOptions, StressTest, TestScore,
                                       bootstrap_correlation_ci)
from nlp_underspec.stress.examples import (ExampleSet, MeanScore, RowwiseScore, accuracy, mean_squared_error,
                                           pearson_r, spearman_r)
from nlp_underspec.stress.registry import (ENTRY_POINT_GROUP, available_stress_tests, get_stress_test, load_plugin,
                                           parse_test_names, register_stress_test, unregister_stress_test)

# The built-in tests register themselves on import.
from nlp_underspec.stress import calibration as _calibration  # noqa: E402,F401
from nlp_underspec.stress import sts_gender as _sts_gender  # noqa: E402,F401
from nlp_underspec.stress import winogender as _winogender  # noqa: E402,F401


def evaluate_module_path(name: str) -> str:
    """The folder to pass to ``evaluate.load`` for a built-in test (it holds ``<name>.py`` and the README card).

    >>> Path(evaluate_module_path("sts_gender")).name
    'sts_gender'
    """
    folder = type(get_stress_test(name)).folder()
    if not (folder / f"{name}.py").is_file():
        raise FileNotFoundError(f"stress test {name!r} has no evaluate module file {folder / (name + '.py')}")
    return str(folder)


__all__ = ["ENTRY_POINT_GROUP", "ExampleSet", "MeanScore", "MetricInfo", "Prediction", "PredictOptions", "RowwiseScore",
           "StressTest", "TestScore", "accuracy", "available_stress_tests", "bootstrap_correlation_ci",
           "evaluate_module_path", "get_stress_test", "load_plugin", "mean_squared_error", "parse_test_names",
           "pearson_r", "register_stress_test", "spearman_r", "unregister_stress_test"]
