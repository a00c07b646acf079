"""``evaluate``-library wrappers of registered stress tests, for users who want ``evaluate.load``.

Each built-in test's folder holds a ``<name>.py`` module file that ``evaluate.load(<folder>)`` loads offline (get the
folder from :func:`nlp_underspec.stress.evaluate_module_path`). The wrapper scores through the same
``StressTest.score``, so it gives the same numbers as ``nlp-underspec score``. Inputs are the test's declared schema
(``StressTest.features()``) plus ``predictions``; keyword options ``n_boot``, ``seed`` and ``occupation_stats`` (a path).
"""

from __future__ import annotations

from typing import Any


def stress_test_metric(name: str) -> type:
    """An ``evaluate.Metric`` subclass for the stress test registered as ``name`` (``evaluate`` is imported here)."""
    import datasets
    import evaluate
    import numpy as np
    import pandas as pd

    from nlp_underspec.stress import get_stress_test

    test = get_stress_test(name)
    columns = list(test.schema)
    inputs_description = (
        f"Args:\n    predictions: one float per item ({name}: see the card).\n"
        + "".join(f"    {column}: the label_info column '{column}' ({dtype}).\n" for column, dtype in test.schema.items())
        + "    n_boot (int, default 1000), seed (int, default 0): the bootstrap over occupations for ci95.\n"
        + "    occupation_stats (str, optional): path of an occupations-stats.tsv (default: the shipped table).\n"
        + "Returns: the summary numbers of the test (as in summary.json) and 'per_occupation': {occupation: value}.\n"
    )

    class Wrapper(evaluate.Metric):
        def _info(self) -> Any:
            return evaluate.MetricInfo(
                module_type="metric", description=test.description, citation=test.citation,
                inputs_description=inputs_description,
                features=datasets.Features({"predictions": datasets.Value("float64"), **test.features()}),
            )

        def _compute(self, *, predictions, n_boot: int = 1000, seed: int = 0, occupation_stats: str | None = None,
                     **label_columns) -> dict[str, Any]:
            from nlp_underspec.data.occupations import load_occupation_stats

            label_info = pd.DataFrame({column: label_columns[column] for column in columns})
            stats = load_occupation_stats(occupation_stats) if occupation_stats else None
            result = test.score(preds=np.asarray(predictions, dtype=float), label_info=label_info,
                                occupation_stats=stats, n_boot=n_boot, seed=seed, where=f"{name} inputs")
            return {**result.summary, "per_occupation": {str(k): float(v) for k, v in result.per_occupation.items()}}

    Wrapper.__name__ = Wrapper.__qualname__ = "".join(part.capitalize() for part in name.split("_"))
    return Wrapper
