"""The family in a sentence per network, from ``analysis.json``: is it iid-equivalent, and how much of its stress
spread does the pretraining seed explain? The report's first section, the family card and ``nlp-underspec analyze``
all say it.

One sentence per fine-tuning task, because a sweep's pair is two networks: a stress test's numbers come from the
networks of the task it pairs with and are judged by that task's dev metrics (the test's ``pairs_with_task``).
Honesty rules: networks that are not iid-equivalent are said to be so, and their spread is not called
underspecification;
the pretraining-seed share is the ICC of each test's headline stress metrics (registry ``headline``) that got a
statement, with its analytic interval; when that interval spans 0 the sentence says the family cannot tell, and a
headline correlation below its noise floor is named as having no share stated. A family whose pretrained checkpoints
have calibration slopes gets a second sentence: how many of them learnt the statistic (the slope's interval lies
above 0) and the range of their slopes.
"""

from __future__ import annotations

import math

from nlp_underspec.analysis.registered import headline_metrics, paired_task

EQUIVALENT = "The {n} fine-tuned {units} are iid-equivalent ({ranges})"
TASK_EQUIVALENT = "The {n} fine-tuned {task} networks are iid-equivalent ({ranges})"
TASK_NOT_EQUIVALENT = ("The {n} fine-tuned {task} networks are not iid-equivalent ({ranges}), so their {tests} spread "
                       "is not evidence of underspecification")
NOT_EQUIVALENT = ("The {n} fine-tuned {units} are not iid-equivalent ({ranges}), so their stress spread is not evidence "
                  "of underspecification")
NO_MARGIN = ("No iid metric of the {n} fine-tuned {units} has a declared margin ({names}), so their iid equivalence, "
             "the premise of underspecification, is not established")
NO_IID = ("No iid metric was recorded for these {n} models, so iid equivalence, the premise of underspecification, "
          "cannot be checked")
NOT_COMPUTED = ("iid equivalence, the premise of underspecification, was not checked for these {n} models (this "
                "analysis ran only {statements})")
RANGE = "{label} {low}–{high}, {within} {margin}"
EXPLAINS = "the pretraining seed explains {items}"
EXPLAINED_ITEM = "{icc} [{low}, {high}] of the spread in {name}"
CANNOT_TELL = "for {items} the family cannot tell how much the pretraining seed explains (its ICC interval spans 0)"
UNDECIDED_ITEM = "{name} ({icc} [{low}, {high}])"
# An ICC interval at or below 0 is no "cannot tell": the seeds' means differ no more than runs of one seed do. The
# estimator goes negative there (down to -1/(k-1)), which as a share would read "-100%": shown as the ICC itself.
EXPLAINS_NONE = ("the pretraining seed explains none of the spread in {items} (its ICC interval lies at or below 0: "
                 "the seeds differ no more than runs of one seed do)")
NONE_ITEM = "{name} (ICC {icc_value:.2f} [{low_value:.2f}, {high_value:.2f}])"
BELOW_FLOOR = "no share is stated for {items}"
BELOW_FLOOR_ITEM = "{names} ({n_below} of {n} models below the noise floor)"
CALIBRATED = "{k} of {n} pretrained checkpoints learnt {statistic} (calibration slopes {low}–{high})"
NONE_CALIBRATED = "None of the {n} pretrained checkpoints learnt {statistic} (calibration slopes {low}–{high})"
ONE_CALIBRATED = "The pretrained checkpoint {verdict} {statistic} (calibration slope {low})"
STATISTICS = {"planted": "the planted statistic", "bls": "the BLS statistic"}
TASK_LABELS = {"stsb": "STS-B"}
METRIC_LABELS = {"dev_accuracy": "dev accuracy", "dev_pearson": "dev Pearson", "dev_spearman": "dev Spearman",
                 "dev_loss": "dev loss"}


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _joined(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def iid_label(test: str, metric: str) -> str:
    """``coref dev accuracy``, ``STS-B dev Pearson``: an iid metric as a sentence names it."""
    return f"{TASK_LABELS.get(test, test)} {METRIC_LABELS.get(metric, metric.replace('_', ' '))}"


def _ranges(entries: list[dict]) -> str:
    return "; ".join(RANGE.format(label=iid_label(e["test"], e["metric"]), low=f"{e['min']:.3f}",
                                  high=f"{e['max']:.3f}", within="within" if e["within"] else "not within",
                                  margin=f"{e['margin']:g}") for e in entries)


def equivalence_clause(analysis: dict) -> str:
    """The first half of the sentence: iid-equivalent or not, with each judged metric's range and margin."""
    section = analysis.get("iid_equivalence")
    ran = (analysis.get("settings") or {}).get("statements") if isinstance(analysis.get("settings"), dict) else None
    if section is None and isinstance(ran, list) and "iid_equivalence" not in ran:  # --only: not computed, not absent
        return NOT_COMPUTED.format(n=analysis.get("n_models", "the"), statements=", ".join(map(str, ran)))
    if not isinstance(section, dict) or "metrics" not in section:
        return NO_IID.format(n=analysis.get("n_models", "the"))
    entries = [e for e in section["metrics"] if isinstance(e, dict)]
    units = "pairs" if len(section.get("tasks") or []) > 1 else "models"  # a sweep's model is one network per task
    judged = [e for e in entries if e.get("within") is not None]
    if not judged:
        return NO_MARGIN.format(n=section["n_models"], units=units, names=", ".join(e["iid"] for e in entries))
    template = EQUIVALENT if section.get("equivalent") else NOT_EQUIVALENT
    return template.format(n=section["n_models"], units=units, ranges=_ranges(judged))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def seed_shares(analysis: dict, population: str = "finetuned") -> tuple[list[str], list[str], list[str]]:
    """(explained, undecided, none) clauses: each test's headline stress metrics with an ICC, in the order of
    analysis.json; ``none`` holds those whose ICC interval lies at or below 0."""
    explained, undecided, none = [], [], []
    for entry in (analysis.get("metrics") or {}).values():
        if not isinstance(entry, dict) or entry.get("kind") != "stress" or entry.get("population") != population:
            continue
        if entry.get("metric") not in headline_metrics(str(entry.get("test"))):
            continue
        share = entry.get("seed_share") or {}
        ci = share.get("icc_ci95")
        if not _finite(share.get("icc")) or not (isinstance(ci, list) and len(ci) == 2 and all(map(_finite, ci))):
            continue
        numbers = {"name": f"{entry['test']} {entry['metric']}", "icc": _percent(share["icc"]),
                   "low": _percent(ci[0]), "high": _percent(ci[1])}
        if ci[0] > 0:
            explained.append(EXPLAINED_ITEM.format(**numbers))
        elif ci[1] <= 0:
            none.append(NONE_ITEM.format(name=numbers["name"], icc_value=share["icc"], low_value=ci[0],
                                         high_value=ci[1]))
        else:
            undecided.append(UNDECIDED_ITEM.format(**numbers))
    return explained, undecided, none


def below_floor(analysis: dict, population: str = "finetuned") -> list[str]:
    """One clause item per test whose headline signal metrics got no statement (models below its noise floor)."""
    items = []
    for entry in (analysis.get("noise_floor") or {}).values():
        if not isinstance(entry, dict) or entry.get("population") != population:
            continue
        if entry.get("signal_statements") != "skipped":
            continue
        test = str(entry.get("test"))
        names = [f"{test} {m}" for m in headline_metrics(test) if m in (entry.get("signal_metrics") or [])]
        if names:
            items.append(BELOW_FLOOR_ITEM.format(names=_joined(names), n_below=entry.get("n_below"),
                                                 n=entry.get("n_models")))
    return items


def calibration_clause(analysis: dict) -> str | None:
    """How many pretrained checkpoints learnt the statistic and the range of their slopes, or None without any.

    >>> calibration_clause({"calibration": {"reference": "planted", "n_checkpoints": 3, "n_learned": 1,
    ...                                     "slopes": {"min": 0.005, "max": 0.74}}})
    '1 of 3 pretrained checkpoints learnt the planted statistic (calibration slopes 0.005–0.740)'
    """
    block = analysis.get("calibration")
    if not isinstance(block, dict) or not isinstance(block.get("n_checkpoints"), int) or not block["n_checkpoints"]:
        return None
    slopes = block.get("slopes") or {}
    if not (_finite(slopes.get("min")) and _finite(slopes.get("max"))):
        return None
    reference = block.get("reference")
    statistic = STATISTICS.get(reference, "the statistic") if isinstance(reference, str) else "the statistic"
    numbers = {"n": block["n_checkpoints"], "k": block.get("n_learned", 0), "statistic": statistic,
               "low": f"{slopes['min']:.3f}", "high": f"{slopes['max']:.3f}"}
    if block["n_checkpoints"] == 1:
        return ONE_CALIBRATED.format(verdict="learnt" if numbers["k"] else "did not learn", **numbers)
    return (NONE_CALIBRATED if not numbers["k"] else CALIBRATED).format(**numbers)


def _shares_by_test(analysis: dict, population: str) -> dict[str, dict[str, list[str]]]:
    """Each test's share clauses: ``explained``, ``undecided`` and ``floored`` items, in the order of analysis.json."""
    by_test: dict[str, dict[str, list[str]]] = {}
    for entry in (analysis.get("metrics") or {}).values():
        if isinstance(entry, dict) and entry.get("kind") == "stress" and entry.get("population") == population:
            explained, undecided, none = seed_shares({"metrics": {"one": entry}}, population)
            if explained or undecided or none:
                slot = by_test.setdefault(str(entry["test"]), _empty_slot())
                slot["explained"] += explained
                slot["undecided"] += undecided
                slot["none"] += none
    for entry in (analysis.get("noise_floor") or {}).values():
        if isinstance(entry, dict):
            floored = below_floor({"noise_floor": {"one": entry}}, population)
            if floored:
                slot = by_test.setdefault(str(entry.get("test")), _empty_slot())
                slot["floored"] += floored
    return by_test


_SLOTS = ("explained", "undecided", "none", "floored")


def _empty_slot() -> dict[str, list[str]]:
    return {key: [] for key in _SLOTS}


def _with_shares(sentence: str, shares: dict[str, list[str]], *, equivalent: bool) -> str:
    if shares["explained"]:
        sentence += (", yet " if equivalent else "; ") + EXPLAINS.format(items=_joined(shares["explained"]))
    if shares["none"]:
        sentence += "; " + EXPLAINS_NONE.format(items=_joined(shares["none"]))
    if shares["undecided"]:
        sentence += "; " + CANNOT_TELL.format(items=_joined(shares["undecided"]))
    if shares["floored"]:
        sentence += "; " + BELOW_FLOOR.format(items=_joined(shares["floored"]))
    return sentence + "."


def _merged(parts: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    return {key: [item for part in parts for item in part[key]] for key in _SLOTS}


def _network_sentences(section: dict, by_test: dict[str, dict[str, list[str]]]) -> tuple[list[str], set[str]]:
    """One sentence per fine-tuning task with judged iid metrics, and the tests they covered."""
    sentences, covered = [], set()
    judged = [e for e in section.get("metrics") or [] if isinstance(e, dict) and e.get("within") is not None]
    for task in sorted({e["test"] for e in judged}):
        entries = [e for e in judged if e["test"] == task]
        tests = [test for test in by_test if paired_task(test) == task]
        covered.update(tests)
        equivalent = all(e["within"] for e in entries)
        numbers = {"n": max(e.get("n") or section.get("n_models") or 0 for e in entries),
                   "task": TASK_LABELS.get(task, task),
                   "ranges": _ranges(entries), "tests": " and ".join(tests) or "stress"}
        head = (TASK_EQUIVALENT if equivalent else TASK_NOT_EQUIVALENT).format(**numbers)
        sentences.append(_with_shares(head, _merged([by_test[t] for t in tests]), equivalent=equivalent))
    return sentences, covered


def family_sentence(analysis: dict) -> str | None:
    """The family's sentences (one per fine-tuning network, then the calibration), or None without an analysis.

    (tests/test_analysis_registry.py shows it on a family of coref networks.)
    """
    if not isinstance(analysis, dict) or not analysis.get("metrics"):
        return None
    section = analysis.get("iid_equivalence") if isinstance(analysis.get("iid_equivalence"), dict) else {}
    kinds = {e.get("population") for e in analysis["metrics"].values() if isinstance(e, dict)}
    population = section.get("population") or ("finetuned" if "finetuned" in kinds else "pretrained")
    by_test = _shares_by_test(analysis, population)
    sentences, covered = _network_sentences(section, by_test) if "metrics" in section else ([], set())
    rest = [shares for test, shares in by_test.items() if test not in covered]
    if rest or not sentences:  # tests no judged network covers (an evaluate family, a plugin): the old sentence
        sentences.append(_with_shares(equivalence_clause(analysis), _merged(rest) if rest else
                                      _empty_slot(),
                                      equivalent=bool(section.get("equivalent"))))
    calibration = calibration_clause(analysis)
    return " ".join(sentences) + (f" {calibration}." if calibration else "")
