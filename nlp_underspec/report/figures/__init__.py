"""The report's figures, drawn with matplotlib (Agg backend) from a :class:`~nlp_underspec.experiment.family.Family`.

Each ``*_figure`` function returns a :class:`~nlp_underspec.report.figures.common.Figure` (a matplotlib figure with a
title and a caption that says what it shows and how to read it), or None when its inputs were not computed, so the
page can say so instead. :func:`all_figures` draws every one that can be drawn, in the page's order:

- :mod:`~nlp_underspec.report.figures.occupations`: per-occupation scores against BLS, and the calibration slopes;
- :mod:`~nlp_underspec.report.figures.spread`: by pretraining seed (or per model), variance split, Multi-Bootstrap;
- :mod:`~nlp_underspec.report.figures.relations`: iid against stress, PCA of per-item deviations;
- :mod:`~nlp_underspec.report.figures.common`: the figure record, colours, markers and legends they share.
"""

from __future__ import annotations

from nlp_underspec.analysis.calibration import TEST as CALIBRATION_TEST
from nlp_underspec.data.occupations import load_occupation_stats
from nlp_underspec.experiment.family import Family
from nlp_underspec.report.family import per_occupation_metric
from nlp_underspec.report.figures.common import Figure, pyplot
from nlp_underspec.report.figures.occupations import calibration_figure, per_occupation_figure
from nlp_underspec.report.figures.relations import iid_vs_stress_figure, no_iid_pair_note, pca_figure
from nlp_underspec.report.figures.spread import (
    by_seed_figure,
    multibootstrap_figure,
    per_model_figure,
    variance_split_figure,
)

NO_CALIBRATION_FIGURE = ("Calibration of the pretrained checkpoints: not drawn (no readable predictions/calibration "
                         "triplet with each occupation's log-odds).")
NO_ANALYSIS_FIGURE = "{note}: not computed ({why}; run `nlp-underspec analyze {root}`)."


def per_occupation_tests(family: Family) -> list[str]:
    """The family's tests with per-occupation scores to draw against BLS, by name (the calibration test's log-odds
    have their own figure)."""
    tests = {test for model in family.models for test in model.tests}
    return sorted(t for t in tests if per_occupation_metric(t) is not None and t != CALIBRATION_TEST)


def _per_occupation_figures(family: Family, missing: list[str]) -> list[Figure | None]:
    bls = load_occupation_stats()["bls_pct_female"]
    figures = []
    for test in per_occupation_tests(family):
        figure = per_occupation_figure(family, test, bls)
        if figure is None:
            where = "no scores.parquet" if family.scores.empty else "scores.parquet has no rows with an occupation"
            missing.append(f"Per-occupation {test} scores: not drawn ({where}).")
        figures.append(figure)
    return figures


def _analysis_figures(family: Family, missing: list[str]) -> list[Figure | None]:
    figures = []
    why = "no analysis.json" if not family.has_analysis else "no entry in analysis.json"
    for builder, note in ((variance_split_figure, "Variance split by pretraining seed"),
                          (multibootstrap_figure, "Multi-Bootstrap intervals")):
        figure = builder(family)
        if figure is None:
            missing.append(NO_ANALYSIS_FIGURE.format(note=note, why=why, root=family.root))
        figures.append(figure)
    pca = family.analysis.get("pca") if isinstance(family.analysis.get("pca"), dict) else {}
    for test, section in pca.items():
        figure = pca_figure(family, test, section)
        if figure is None and isinstance(section, dict) and "skipped" in section:
            missing.append(f"PCA of {test}: not computed ({section['skipped']}).")
        figures.append(figure)
    if not pca:
        why = "no analysis.json" if not family.has_analysis else "no pca section in analysis.json"
        missing.append(f"PCA of per-item deviations: not computed ({why}).")
    return figures


def all_figures(family: Family) -> tuple[list[Figure], list[str]]:
    """Every figure that can be drawn, and a note for each that cannot (inputs not computed)."""
    missing: list[str] = []
    figures = _per_occupation_figures(family, missing)
    by_seed = by_seed_figure(family)
    if by_seed is None:
        missing.append("Stress metrics by pretraining seed: no model has a recorded pretraining seed.")
        by_seed = per_model_figure(family)
    figures.append(by_seed)
    if any(CALIBRATION_TEST in m.tests for m in family.models):
        figure = calibration_figure(family)
        if figure is None:
            missing.append(NO_CALIBRATION_FIGURE)
        figures.append(figure)
    iid = iid_vs_stress_figure(family)
    if iid is None:
        missing.append(no_iid_pair_note(family))
    figures.append(iid)
    figures += _analysis_figures(family, missing)
    return [f for f in figures if f is not None], missing


def close(figures: list[Figure]) -> None:
    plt = pyplot()
    for figure in figures:
        plt.close(figure.figure)
