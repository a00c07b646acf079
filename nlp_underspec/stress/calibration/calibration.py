"""The ``calibration`` stress test as a local evaluate module (offline): ``evaluate.load(<this folder>)``.

The folder comes from ``nlp_underspec.stress.evaluate_module_path("calibration")``; scoring is the package's own, so
the numbers equal those of ``nlp-underspec score``. One import per line: evaluate's loader reads them line by line.
"""

from nlp_underspec.stress.evaluate_module import stress_test_metric

Calibration = stress_test_metric("calibration")
