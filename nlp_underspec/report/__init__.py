"""The experiment report: one self-contained HTML page with figures, built from a finished experiment folder.

``build_report(rundir)`` reads the family (:mod:`nlp_underspec.experiment.family`), draws the figures
(:mod:`nlp_underspec.report.figures`) and writes ``rundir/report/index.html`` with ``figures/*.png`` and ``*.svg``
(:mod:`nlp_underspec.report.page`).
"""

from __future__ import annotations

from nlp_underspec.experiment.family import Family, load_family
from nlp_underspec.report.page import build_report

__all__ = ["Family", "build_report", "load_family"]
