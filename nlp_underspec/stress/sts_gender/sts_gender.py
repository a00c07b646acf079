"""The ``sts_gender`` stress test as a local evaluate module (offline): ``evaluate.load(<this folder>)``.

The folder comes from ``nlp_underspec.stress.evaluate_module_path("sts_gender")``; scoring is the package's own, so the
numbers equal those of ``nlp-underspec score``. One import per line: evaluate's loader reads them line by line.
"""

from nlp_underspec.stress.evaluate_module import stress_test_metric

StsGender = stress_test_metric("sts_gender")
