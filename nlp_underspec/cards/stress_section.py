"""The "Bias, Risks, and Limitations" section: rendered from the facts of :mod:`~nlp_underspec.cards.stress_facts`
between two HTML-comment markers, so :func:`replace_stress_section` can update it in any existing README.md without
touching the rest."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from nlp_underspec.cards.stress_facts import family_table_row, headline_facts, table_rows
from nlp_underspec.cards.stress_prose import analysis_bullets, headline_paragraph
from nlp_underspec.cards.templates import render_section
from nlp_underspec.errors import UsageError
from nlp_underspec.io import atomic_write_text
from nlp_underspec.report import calibration
from nlp_underspec.experiment.family import Family
from nlp_underspec.experiment.models import ModelResult
from nlp_underspec.report.family import headline_metric
from nlp_underspec.textio import read_text

START_MARKER = "<!-- nlp_underspec:stress-section:start (generated; edits between these markers are replaced) -->"
END_MARKER = "<!-- nlp_underspec:stress-section:end -->"
START_PREFIX = "<!-- nlp_underspec:stress-section:start"  # what every start marker, old or new, begins with
README = "README.md"

README_NOT_FOUND = ("{path} does not exist. Pass an existing README.md to --readme, or leave --readme out to write a "
                    "new card.")
README_IS_A_FOLDER = ("{path} is a folder, not a README file. Pass an existing README.md to --readme (e.g. "
                      "{path}/README.md), or leave --readme out to write a new card.")
MARKERS_BROKEN = ("{path} has {problem} of the stress-section markers. Restore both lines ({start} ... {end}) around "
                  "the old section, or delete what is left of it, then run the command again.")
NO_STRESS_RESULTS = ("{start}\n## Bias, Risks, and Limitations\n\nNo stress-test results were recorded for this "
                     "{which}checkpoint; see the final checkpoint's card and the family card. Models of one recipe that "
                     "differ only in their seeds can differ widely on gender stress tests: evaluate before use "
                     "(`nlp-underspec evaluate`).\n{end}\n")


def _with_prose(facts: dict) -> dict:
    """A headline's facts with the sentences the template places."""
    return {**facts, "paragraph": headline_paragraph(facts), "bullets": analysis_bullets(facts)}


def _render(*, subject: str, value_header: str, rows: list[dict], headlines: list[dict],
            calibration_text: str | None) -> str:
    return render_section("stress", start_marker=START_MARKER, end_marker=END_MARKER, subject=subject,
                          value_header=value_header, rows=rows, headlines=[_with_prose(h) for h in headlines],
                          calibration=calibration_text).strip() + "\n"


def stress_section(family: Family, model: ModelResult, *, tests: Iterable[str], subject: str = "This checkpoint") -> str:
    """The "Bias, Risks, and Limitations" section for one model, markers included."""
    tests = [t for t in tests if t in model.tests]
    headlines = []
    for test in tests:
        metric = headline_metric(test) or next((m for t, m in model.stress_metrics() if t == test), None)
        # A calibration slope is no association with BLS: its own paragraph says what it is and whether it was learnt.
        if metric and model.value(test, metric) is not None and test != calibration.TEST:
            headlines.append(headline_facts(family, model, test, metric, subject))
    return _render(subject=subject, value_header="This checkpoint" if subject == "This checkpoint" else "This model",
                   rows=table_rows(family, model, tests), headlines=headlines,
                   calibration_text=calibration.card_paragraphs(family, model, tests=tuple(tests), subject=subject))


def family_stress_section(family: Family) -> str:
    """The family card's version: one row per headline metric, with the Multi-Bootstrap estimate as its value."""
    rows, headlines = [], []
    for test, metric in family.headline_metrics():
        facts = headline_facts(family, None, test, metric, "The family")
        if test != calibration.TEST:  # the calibration paragraph below says what the slopes are
            headlines.append(facts)
        rows.append(family_table_row(family, test, metric, facts["below_floor"]))
    return _render(subject="This family", value_header="Multi-Bootstrap mean", rows=rows, headlines=headlines,
                   calibration_text=calibration.family_paragraph(family))


def no_stress_section(*, intermediate: bool) -> str:
    """The section of a checkpoint without stress results (an intermediate one, or one never evaluated)."""
    return NO_STRESS_RESULTS.format(start=START_MARKER, end=END_MARKER, which="intermediate " if intermediate else "")


def replace_stress_section(text: str, section: str, *, where: str = README) -> str:
    """Put ``section`` between the markers in ``text`` (appended at the end when there are none)."""
    starts = [m.start() for m in re.finditer(re.escape(START_PREFIX), text)]
    ends = [m.start() for m in re.finditer(re.escape(END_MARKER), text)]
    if not starts and not ends:
        return text.rstrip("\n") + ("\n\n" if text.strip() else "") + section.rstrip("\n") + "\n"
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        problem = ("only the end" if not starts else "only the start" if not ends else
                   "more than one copy" if len(starts) > 1 or len(ends) > 1 else "a reversed pair")
        raise UsageError(MARKERS_BROKEN.format(path=where, problem=problem, start=START_MARKER, end=END_MARKER))
    return text[:starts[0]] + section.rstrip("\n") + text[ends[0] + len(END_MARKER):]


def update_readme(path: str | os.PathLike, section: str) -> Path:
    """Replace (or append) the stress section of an existing README.md in place, atomically."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(README_IS_A_FOLDER.format(path=path))
    if not path.is_file():
        raise UsageError(README_NOT_FOUND.format(path=path))
    text = read_text(path)  # a README saved as UTF-16 by an editor is read, and written back as UTF-8
    return atomic_write_text(path, replace_stress_section(text, section, where=str(path)))
