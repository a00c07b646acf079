"""The pretrained checkpoints' calibration slopes in words, for the report and the cards.

A checkpoint's slope, interval, ``learned`` flag and target come from its ``calibration`` block in ``summary.json``
(so a card can say them without an analysis); how many learnt the statistic, whether the seeds differ and what the
fine-tuned models inherit come from ``analysis.json``'s ``calibration`` block. Every sentence is a module constant,
and a checkpoint whose interval does not lie above 0 always reads "did not learn the statistic".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nlp_underspec.analysis.calibration import ALPHA, LEARNT, NOT_LEARNT, TEST
from nlp_underspec.analysis.headline import calibration_clause
from nlp_underspec.artifacts import PRETRAINED as PRETRAINED_PART
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.family import Family
from nlp_underspec.experiment.models import ModelResult
from nlp_underspec.formatting import REFERENCE_LABELS, fmt, fmt_ci, number, unreliable_text
from nlp_underspec.stress.calibration import LEARNED_SLOPE
from nlp_underspec.triplet import read_predictions

log = logging.getLogger(__name__)

INCLUDES_ZERO = "the interval includes 0"
BELOW_ZERO = "the interval lies below 0"
NO_INTERVAL = "no interval was computed"
ABOVE_ZERO = "the interval lies above 0"
TOO_SMALL = "the slope is below {minimum}, what a world with nothing planted reads"
CHECKPOINT = ("**Calibration slope (`calibration/slope`).** {subject}'s calibration slope is {slope}{ci} on the "
              "{reference} log-odds of \"she\" per occupation (1 = the table learnt exactly, 0 = not at all): it "
              "{verdict} ({why}).")
PARENT = ("*Inherited from pretraining.* {subject} was fine-tuned from `{parent}`, whose calibration slope is "
          "{slope}{ci} on the {reference} log-odds of \"she\" per occupation: it {verdict} ({why}).")
MEMBER = "`{name}` (pretraining seed {seed}): calibration slope {slope}{ci}: {verdict}."
DIFFER = ("{n} pair(s) of pretrained checkpoints have disjoint slope intervals: the pretraining seeds learnt the "
          "statistic to different degrees.")
NOT_DIFFERENT = ("No two pretrained checkpoints have disjoint slope intervals: this family cannot tell their slopes "
                 "apart.")
INHERITANCE = ("Over {n} pretraining seeds, the parents' calibration slope and the mean `{metric}` of their fine-tuned "
               "models have Spearman ρ = {rho}{ci} and Pearson r = {pearson}; one-sided permutation p = {p} ({how})"
               "{reading}")
INHERITED = ": the fine-tuned models of a parent with a larger slope have a larger `{metric}`."
NOT_SHOWN = ": no inheritance is shown."
TOO_FEW = ": too few seeds to show inheritance."
FEW_SEEDS = "With this few seeds: {notes}."
FAMILY_HEADING = "**Calibration of the pretrained checkpoints (`calibration/slope`).**"
INHERITANCE_SKIPPED = "Whether fine-tuned models inherit the calibration slope was not computed: {reason}."


def _ci_text(ci: Any) -> str:
    """`` (95% CI [a, b])``, or nothing without an interval."""
    text = fmt_ci(ci)
    return f" (95% CI {text})" if text else ""


def checkpoint_calibration(model: ModelResult | None) -> dict | None:
    """A checkpoint's slope, interval (or None), ``learned`` and target from summary.json, or None when not scored."""
    block = model.tests.get(TEST) if model is not None else None
    if not isinstance(block, dict) or number(block.get("slope")) is None:
        return None
    ci = model.ci95(TEST)
    learned = block.get("learned")
    if not isinstance(learned, bool):  # an older summary without the flag: the test's own rule
        learned = ci is not None and ci[0] > 0
    reference = block.get("reference")
    return {"slope": float(block["slope"]), "ci95": ci, "learned": learned, "r": number(block.get("r")),
            "reference": REFERENCE_LABELS.get(reference, str(reference)) if reference is not None else "target"}


def why(entry: dict) -> str:
    """Why a checkpoint did (or did not) learn the statistic, from its interval (and the test's minimum slope)."""
    ci = entry["ci95"]
    if ci is None:
        return NO_INTERVAL
    if ci[0] > 0:
        return ABOVE_ZERO if entry["learned"] else TOO_SMALL.format(minimum=LEARNED_SLOPE)
    return BELOW_ZERO if ci[1] < 0 else INCLUDES_ZERO


def verdict(entry: dict) -> str:
    """``learnt the statistic`` or ``did not learn the statistic``."""
    return LEARNT if entry["learned"] else NOT_LEARNT


def verdict_cell(entry: dict) -> str:
    """The verdict as a table cell: why it was not learnt is said beside it."""
    return LEARNT if entry["learned"] else f"{NOT_LEARNT} ({why(entry)})"


def checkpoint_sentence(model: ModelResult, *, subject: str = "This checkpoint") -> str | None:
    """The card paragraph of a pretrained checkpoint's own calibration slope, or None when it was not scored."""
    entry = checkpoint_calibration(model)
    if entry is None:
        return None
    return CHECKPOINT.format(subject=subject, slope=fmt(entry["slope"]), ci=_ci_text(entry["ci95"]),
                             reference=entry["reference"], verdict=verdict(entry), why=why(entry))


def parent_of(family: Family, model: ModelResult) -> ModelResult | None:
    """The pretrained checkpoint a fine-tuned model descends from: the family's checkpoint of its pretraining seed."""
    if model.finetune_seed is None or model.pretrain_seed is None:
        return None
    parents = [m for m in family.models if m.finetune_seed is None and m.pretrain_seed == model.pretrain_seed]
    return parents[0] if len(parents) == 1 else None


def parent_sentence(family: Family, model: ModelResult, *, subject: str = "This checkpoint") -> str | None:
    """The card paragraph naming a fine-tuned model's parent and the parent's slope, or None without one."""
    parent = parent_of(family, model)
    entry = checkpoint_calibration(parent)
    if entry is None:
        return None
    return PARENT.format(subject=subject, parent=parent.name, slope=fmt(entry["slope"]), ci=_ci_text(entry["ci95"]),
                         reference=entry["reference"], verdict=verdict(entry), why=why(entry))


def block(family: Family) -> dict:
    """analysis.json's ``calibration`` block, {} when absent or skipped."""
    value = family.analysis.get(TEST)
    return value if isinstance(value, dict) and "skipped" not in value else {}


def inheritance_entries(family: Family, *, tests: tuple[str, ...] | None = None,
                        headline_only: bool = True) -> list[tuple[str, dict]]:
    """(fine-tuned metric key, entry) of analysis.json's inheritance statements, skipped ones included."""
    inherited = block(family).get("inheritance")
    if not isinstance(inherited, dict) or "skipped" in inherited:
        return []
    return [(key, entry) for key, entry in inherited.items() if isinstance(entry, dict)
            and (tests is None or entry.get("test") in tests) and (entry.get("headline") or not headline_only)]


def inheritance_skipped(family: Family) -> str | None:
    """Why the analysis made no inheritance statement at all, as a sentence, or None."""
    inherited = block(family).get("inheritance")
    if isinstance(inherited, dict) and isinstance(inherited.get("skipped"), str):
        return INHERITANCE_SKIPPED.format(reason=inherited["skipped"].rstrip("."))
    return None


def _how(entry: dict) -> str:
    if entry.get("exact"):
        return f"exact over all {entry['n_permutations']} orderings"
    return f"{entry['n_permutations']} random orderings"


def inheritance_sentence(key: str, entry: dict) -> str:
    """One inheritance statement in words (its few-seed caveats are said once, by :func:`few_seeds_sentence`); a
    skipped one says why."""
    if "skipped" in entry:
        return f"`{key}`: not related to the parents' calibration slope: {str(entry['skipped']).rstrip('.')}."
    metric = key.split("@")[0]
    p = number(entry.get("p_value"))
    reading = (INHERITED.format(metric=metric) if p is not None and p < ALPHA else
               TOO_FEW if entry.get("p_note") else NOT_SHOWN)
    ci = fmt_ci(entry.get("ci95"))
    ci = f" (95% CI {ci}" + (", unreliable" if unreliable_text(entry) else "") + ")" if ci else ""
    text = INHERITANCE.format(n=entry.get("n_seeds"), metric=metric, rho=fmt(number(entry.get("spearman"))),
                              ci=ci, pearson=fmt(number(entry.get("pearson"))), p=fmt(p), how=_how(entry),
                              reading=reading)
    return text + (f" Note: {entry['note']}." if isinstance(entry.get("note"), str) else "")


def few_seeds_sentence(entries: list[tuple[str, dict]]) -> str | None:
    """The caveats the seed count puts on every inheritance statement (unreliable intervals, an unattainable p),
    said once."""
    notes = []
    for _, entry in entries:
        warning = unreliable_text(entry)
        for note in ((f"the ρ intervals are {warning}" if warning else None), entry.get("p_note")):
            if isinstance(note, str) and note not in notes:
                notes.append(note)
    return FEW_SEEDS.format(notes="; ".join(notes)) if notes else None


def inheritance_lines(family: Family, *, tests: tuple[str, ...] | None = None) -> list[str]:
    """The inheritance statements of the headline metrics (of ``tests``), then their few-seed caveats."""
    entries = inheritance_entries(family, tests=tests)
    lines = [inheritance_sentence(key, entry) for key, entry in entries]
    caveat = few_seeds_sentence([(k, e) for k, e in entries if "skipped" not in e])
    return lines + ([caveat] if caveat else [])


def checkpoints(family: Family) -> list[tuple[ModelResult, dict]]:
    """Every checkpoint without a fine-tuning seed that has a calibration slope, in the order of summary.json (the
    analysis's ``pretrained`` population: a sweep's checkpoints, or models evaluated on their own)."""
    found = [(m, checkpoint_calibration(m)) for m in family.models if m.finetune_seed is None]
    return [(model, entry) for model, entry in found if entry is not None]


def count_sentence(family: Family) -> str | None:
    """How many checkpoints learnt the statistic and the range of their slopes (the family sentence's clause)."""
    found = checkpoints(family)
    if not found:
        return None
    kinds = {m.tests[TEST].get("reference") for m, _ in found}
    slopes = [entry["slope"] for _, entry in found]
    clause = calibration_clause({TEST: {"reference": kinds.pop() if len(kinds) == 1 else None,
                                        "n_checkpoints": len(found), "n_learned": sum(e["learned"] for _, e in found),
                                        "slopes": {"min": min(slopes), "max": max(slopes)}}})
    return f"{clause}." if clause else None


def differ_sentence(family: Family) -> str | None:
    """Whether the pretraining seeds learnt different amounts (disjoint intervals), from analysis.json."""
    found = block(family)
    if found.get("seeds_differ") is None:
        return None
    return DIFFER.format(n=len(found.get("disjoint_pairs") or [])) if found["seeds_differ"] else NOT_DIFFERENT


def card_paragraphs(family: Family, model: ModelResult, *, tests: tuple[str, ...],
                    subject: str = "This checkpoint") -> str | None:
    """What a model's card says about calibration: a checkpoint's own slope, or a fine-tuned model's parent's slope and
    what the family's fine-tuned models of this card's tests inherit; None when there is nothing to say."""
    if model.finetune_seed is None:
        return checkpoint_sentence(model, subject=subject)
    parent = parent_sentence(family, model, subject=subject)
    if parent is None:
        return None
    inherited = inheritance_lines(family, tests=tests)
    return "\n".join([parent, *(["", *(f"- {line}" for line in inherited)] if inherited else [])])


def family_paragraph(family: Family) -> str | None:
    """The family card's calibration paragraph: a heading sentence, then one bullet per :func:`member_lines` line."""
    lines = member_lines(family)
    if not lines:
        return None
    return "\n".join([FAMILY_HEADING, "", *(f"- {line}" for line in lines)])


def member_lines(family: Family) -> list[str]:
    """The family card's lines: the count, each checkpoint's slope and verdict, the seeds' difference, inheritance."""
    found = checkpoints(family)
    if not found:
        return []
    lines = [count_sentence(family)]
    lines += [MEMBER.format(name=model.name, seed="—" if model.pretrain_seed is None else model.pretrain_seed,
                            slope=fmt(entry["slope"]), ci=_ci_text(entry["ci95"]), verdict=verdict(entry))
              for model, entry in found]
    lines += [line for line in (differ_sentence(family), inheritance_skipped(family)) if line]
    lines += inheritance_lines(family)
    return [line for line in lines if line]


def report_rows(family: Family) -> list[dict]:
    """The report's table: one row per calibrated checkpoint."""
    return [{"name": model.name, "pretrain_seed": "—" if model.pretrain_seed is None else model.pretrain_seed,
             "reference": entry["reference"], "slope": fmt(entry["slope"]), "ci": fmt_ci(entry["ci95"]) or "—",
             "r": fmt(entry["r"]) if entry["r"] is not None else "—", "verdict": verdict_cell(entry)}
            for model, entry in checkpoints(family)]


def inheritance_rows(family: Family) -> list[dict]:
    """The report's inheritance table: the headline metrics' statements (every one is in analysis.json)."""
    rows = []
    for key, entry in inheritance_entries(family):
        if "skipped" in entry:
            rows.append({"metric": key, "n": "—", "rho": "—", "ci": "—", "pearson": "—", "p": "—",
                         "note": f"not computed: {entry['skipped']}"})
            continue
        warning = unreliable_text(entry)
        notes = [text for text in (entry.get("p_note"), entry.get("note")) if isinstance(text, str)]
        rows.append({"metric": key, "n": entry.get("n_seeds", "—"), "rho": fmt(number(entry.get("spearman"))),
                     "ci": (fmt_ci(entry.get("ci95")) or "—") + (f" ({warning})" if warning else ""),
                     "pearson": fmt(number(entry.get("pearson"))),
                     "p": f"{fmt(number(entry.get('p_value')))} ({_how(entry)})", "note": "; ".join(notes)})
    return rows


def calibration_predictions(family: Family):
    """The calibration triplet (target and log-odds per occupation of each checkpoint) the sweep or ``evaluate`` wrote,
    or None when there is none or it cannot be read (the figure is then left out and the page says so)."""
    for folder in (family.root / PRETRAINED_PART / "predictions" / TEST, family.root / "predictions" / TEST):
        if Path(folder).is_dir():
            try:
                return read_predictions(folder)
            except (UsageError, OSError, ValueError) as err:
                log.warning("Not drawing the calibration figure: %s", err)
                return None
    return None
