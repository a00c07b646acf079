"""Model cards for a seed family: one per checkpoint, one for the family, and the stress section on its own.

Cards are Jinja templates from the top-level ``model_cards/`` folder (installed as ``nlp_underspec/model_cards``)
rendered through ``huggingface_hub``'s ``ModelCard.from_template``: the front matter is a ``ModelCardData`` whose
``model-index`` carries every stress-test and iid result as an ``EvalResult`` (seeds in the metric args). The "Bias,
Risks, and Limitations" section is written from the numbers in ``summary.json`` and ``analysis.json`` and sits between
two HTML-comment markers, so :func:`replace_stress_section` can update it in any existing README.md without touching
the rest.

Where a checkpoint can be loaded from is a *locator*: :class:`LocalLocator` (folders on disk) here, or
:class:`nlp_underspec.hub.HubLayout` (repos and branches on the Hub).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from nlp_underspec import __version__, records
from nlp_underspec.analysis.headline import family_sentence
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.io import OutputKind, atomic_write_text, read_json, staged_output
from nlp_underspec.report.family import (
    Family,
    ModelResult,
    RunFolder,
    iid_candidates,
    metric_info,
    metric_key,
)
from nlp_underspec.textio import read_text

log = logging.getLogger(__name__)

START_MARKER = "<!-- nlp_underspec:stress-section:start (generated; edits between these markers are replaced) -->"
END_MARKER = "<!-- nlp_underspec:stress-section:end -->"
_START_PREFIX = "<!-- nlp_underspec:stress-section:start"
README = "README.md"
CARDS = "cards"
FAMILY = "family"

TEMPLATES_NOT_FOUND = ("The card templates (model_cards/*.md.j2) are missing from this installation of nlp_underspec. "
                       "Reinstall the package (pip install --force-reinstall nlp_underspec).")
README_NOT_FOUND = "{path} does not exist. Pass an existing README.md to --readme, or leave --readme out to write a new card."
README_IS_A_FOLDER = ("{path} is a folder, not a README file. Pass an existing README.md to --readme (e.g. "
                      "{path}/README.md), or leave --readme out to write a new card.")
MARKERS_BROKEN = ("{path} has {problem} of the stress-section markers. Restore both lines ({start} ... {end}) around "
                  "the old section, or delete what is left of it, then run the command again.")
MODEL_NOT_IN_RESULTS = "{summary}: {lookup} Evaluate it first with `nlp-underspec evaluate {model} --out {results}`."
BELOW_FLOOR_CELL = "(below noise floor)"
BELOW_FLOOR_MODEL = ("{subject}'s {metric} ({value}) is not a finding: its {magnitude} ({amount}) is below the test's "
                     "noise floor ({floor}), so this is a correlation of float leftovers (a correlation ignores scale). "
                     "At this size the test measures no gender gap, which can mean a saturated head rather than an "
                     "unbiased model.")
BELOW_FLOOR_FAMILY = ("{n_below} of the family's {n} {population} models are below the test's noise floor "
                      "({magnitude} < {floor}): their {metric} is a correlation of float leftovers, so no family "
                      "statement is made on it; read the magnitudes instead.")
UNRELIABLE = "unreliable: only {distinct} distinct resamples of {k} {units} exist"
POPULATION_WORDS = {"finetuned": "fine-tuned", "pretrained": "pretrained", "external": "evaluated"}

# EvalResult fields per test: dataset type and name; the task type of the Hub's task list that fits best.
DATASETS = {
    "sts_gender": ("sts_gender", "STS-B gender stress test (Webster et al. 2020)", "sentence-similarity"),
    "winogender": ("winogender", "Winogender schemas (Rudinger et al. 2018)", "multiple-choice"),
    "stsb": ("stsb", "STS-B development split", "text-classification"),
    "coref": ("coref", "Pronoun resolution development split", "multiple-choice"),
}
ARCHITECTURES = {  # config.json architecture -> (import line, class to load it with)
    "BertForMaskedLM": ("from transformers import AutoModelForMaskedLM, AutoTokenizer", "AutoModelForMaskedLM"),
    "BertForSequenceClassification": ("from transformers import AutoModelForSequenceClassification, AutoTokenizer",
                                      "AutoModelForSequenceClassification"),
    "BertModel": ("from transformers import AutoModel, AutoTokenizer", "AutoModel"),
    "BertForCandidateScoring": (("from transformers import AutoTokenizer\n"
                                "from nlp_underspec.models.span_pair_head import BertForCandidateScoring"),
                               "BertForCandidateScoring"),
}
PIPELINE_TAGS = {"BertForMaskedLM": "fill-mask", "BertForSequenceClassification": "text-classification",
                 "BertModel": "feature-extraction"}


# ------------------------------------------------------------------------------------------------------ templates


def templates_dir() -> Path:
    """The card templates: installed as package data, or the repository's model_cards/ in a source checkout."""
    candidates = [Path(str(resources.files("nlp_underspec").joinpath("model_cards"))),
                  Path(__file__).resolve().parent.parent / "model_cards"]
    for folder in candidates:
        if (folder / "checkpoint.md.j2").is_file():
            return folder
    raise UsageError(TEMPLATES_NOT_FOUND)


@functools.lru_cache(maxsize=1)
def _section_env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                              autoescape=False)


def _section(name: str, **context: Any) -> str:
    return _section_env().get_template(f"section_{name}.md.j2").render(**context)


def _outer_template(name: str) -> str:
    return (templates_dir() / f"{name}.md.j2").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------- formatting


def fmt(value: float | None, digits: int = 3) -> str:
    """A number as cards print it: ``digits`` decimals, or significant digits for tiny gaps (similarity deltas).

    >>> fmt(0.41234), fmt(-0.00041234), fmt(0), fmt(None)
    ('0.412', '-0.000412', '0.000', 'n/a')
    """
    if value is None:
        return "n/a"
    if value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def fmt_ci(ci: Any) -> str | None:
    """``[0.200, 0.600]`` from a pair, or None when there is no usable interval."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or any(not isinstance(v, (int, float)) for v in ci):
        return None
    return f"[{fmt(float(ci[0]))}, {fmt(float(ci[1]))}]"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (a bare '|' would start a new column)."""
    return text.replace("|", "\\|")


def strength_of(r: float) -> str:
    size = abs(r)
    return "no clear" if size < 0.1 else "a weak" if size < 0.3 else "a moderate" if size < 0.5 else "a strong"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ------------------------------------------------------------------------------------------------------ locators


class Locator(Protocol):
    """Where checkpoints live (local folders or Hub repos), as the cards' loading snippets need it."""

    def where(self, run: RunFolder) -> tuple[str, str | None]: ...

    def step_where(self, run: RunFolder, step: int) -> tuple[str, str | None]: ...

    def pattern(self, run: RunFolder) -> str: ...

    def describe_steps(self) -> str: ...

    @property
    def collection(self) -> str | None: ...


@dataclass(frozen=True)
class LocalLocator:
    """Checkpoints as folders of the experiment (cards written before anything is pushed)."""

    root: Path

    def where(self, run: RunFolder) -> tuple[str, str | None]:
        return str(run.path), None

    def step_where(self, run: RunFolder, step: int) -> tuple[str, str | None]:
        return str(run.path / f"step_{step}"), None

    def pattern(self, run: RunFolder) -> str:
        """A Python f-string over ``p`` (and ``f``) that names every sibling folder."""
        if run.kind == "pretrained":
            return f'f"{self.root / "pretrain"}/p{{p:02d}}"'
        return f'f"{self.root / "finetune" / str(run.task)}/p{{p:02d}}-f{{f:02d}}"'

    def describe_steps(self) -> str:
        return "folders step_<K> inside the checkpoint folder"

    @property
    def collection(self) -> str | None:
        return None


# ------------------------------------------------------------------------------------------------- eval results


def _task_type(test: str, model: ModelResult) -> str:
    if test == "winogender" and str(model.tests.get("winogender", {}).get("resolver", "")) == "mlm_probe":
        return "fill-mask"
    return DATASETS.get(test, (test, test, "text-classification"))[2]


def _seed_args(model: ModelResult, *, with_model: bool) -> dict[str, Any]:
    args: dict[str, Any] = {"model": model.name} if with_model else {}
    if model.pretrain_seed is not None:
        args["pretrain_seed"] = model.pretrain_seed
    if model.finetune_seed is not None:
        args["finetune_seed"] = model.finetune_seed
    return args


def eval_results_for(model: ModelResult, *, tests: Iterable[str], iid_tasks: Iterable[str] = (),
                     with_model: bool = False) -> list:
    """One ``EvalResult`` per stress-test metric (and iid metric) of ``model``; values exactly as in summary.json."""
    from huggingface_hub import EvalResult

    from nlp_underspec.report.family import headline_metric

    results = []
    for test in tests:
        dataset_type, dataset_name, _ = DATASETS.get(test, (test, test, "text-classification"))
        for metric in [m for t, m in model.stress_metrics() if t == test]:
            args = _seed_args(model, with_model=with_model)
            ci = model.ci95(test)
            if ci is not None and metric == headline_metric(test):
                args["ci95"] = list(ci)
            results.append(EvalResult(task_type=_task_type(test, model), task_name=f"{test} stress test",
                                      dataset_type=dataset_type, dataset_name=dataset_name, metric_type=metric,
                                      metric_name=metric_info(test, metric).label,
                                      metric_value=model.value(test, metric), metric_args=args))
    for task in iid_tasks:
        dataset_type, dataset_name, task_type = DATASETS.get(task, (task, task, "text-classification"))
        for metric, value in model.iid.get(task, {}).items():
            results.append(EvalResult(task_type=task_type, task_name=task, dataset_type=dataset_type,
                                      dataset_name=dataset_name, metric_type=metric, metric_name=f"{task} {metric}",
                                      metric_value=value, metric_args=_seed_args(model, with_model=with_model)))
    return results


# ----------------------------------------------------------------------------------------------- stress section


def _rank(value: float, peers: list[float]) -> int:
    """1 = the largest value among peers (ties share the better rank)."""
    return 1 + sum(1 for other in peers if other > value)


def _usable(section: dict, name: str) -> dict:
    """A sub-result of an analysis.json entry, or {} when it is absent or was skipped."""
    value = section.get(name)
    return value if isinstance(value, dict) and "skipped" not in value else {}


RESAMPLED_NAMES = {"pretrain_seed": "pretraining seeds", "finetune_seed": "fine-tuning seeds", "seed": "seeds",
                   "item": "test items", "example": "test items", "occupation": "occupations"}


def unreliable_text(entry: Any) -> str | None:
    """Why an analysis.json interval is not to be trusted (``reliable`` false: too few distinct resamples), or None."""
    if not isinstance(entry, dict) or entry.get("reliable") is not False:
        return None
    resampled = entry.get("resampled")
    unit = resampled[0] if isinstance(resampled, list) and resampled else resampled
    return UNRELIABLE.format(distinct=entry.get("distinct_resamples"), k=entry.get("n_units"),
                             units=RESAMPLED_NAMES.get(str(unit), "seeds") if unit != "model" else "models")


def _resampled(value: Any) -> str:
    """What the Multi-Bootstrap resampled, in words (analysis.json ``resampled``)."""
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    words = [RESAMPLED_NAMES.get(str(n), str(n).replace("_", " ")) for n in names]
    return " and ".join(dict.fromkeys(words)) or "seeds and test items"


def _analysis_facts(family: Family, test: str, metric: str, n_peers: int | None,
                    population: str | None) -> tuple[dict | None, str | None]:
    """Seed-analysis facts for one metric, or why there are none (a sentence for the card)."""
    root = family.root
    if not family.has_analysis:
        return None, (f"The seed analysis was not computed for this family (no analysis.json); run "
                      f"`nlp-underspec analyze {root}` and rebuild the cards to see how much of the spread comes from "
                      "the pretraining seed.")
    section = family.analysis_metric(test, metric, population)
    if not section:
        return None, f"analysis.json has no entry for `{metric_key(test, metric)}`: its seed analysis was not computed."
    if not any(_usable(section, name) for name in ("spread", "seed_share", "multibootstrap")):
        reasons = [section[name]["skipped"] for name in ("spread", "seed_share", "multibootstrap")
                   if isinstance(section.get(name), dict) and "skipped" in section[name]]
        reason = f": {reasons[0]}" if reasons else ""
        return None, (f"analysis.json did not compute the seed analysis of `{metric_key(test, metric)}`{reason}"
                      + ("" if reason.endswith(".") else "."))
    spread = _usable(section, "spread")
    n = spread.get("n")
    if n_peers is not None and isinstance(n, int) and n != n_peers:
        return None, (f"analysis.json's seed analysis of `{metric_key(test, metric)}` covers {n} models, not this "
                      f"checkpoint's {n_peers} peers; see the family card for it.")
    share = _usable(section, "seed_share")
    regroup = _usable(share, "regroup")
    boot = _usable(section, "multibootstrap")
    low, high = _number(spread.get("min")), _number(spread.get("max"))
    facts = {
        "n": n, "range": f"[{fmt(low)}, {fmt(high)}]" if low is not None and high is not None else "an unreported range",
        "icc": _number(share.get("icc")), "icc_s": fmt(_number(share.get("icc"))), "icc_ci": fmt_ci(share.get("icc_ci95")),
        "icc_low": _number((share.get("icc_ci95") or [None])[0]),
        "n_seeds": share.get("n_seeds"), "regroup_p_value": _number(regroup.get("p_value")),
        "regroup_p": fmt(_number(regroup.get("p_value"))) if _number(regroup.get("p_value")) is not None else None,
        "mb_mean": fmt(_number(boot.get("mean"))) if _number(boot.get("mean")) is not None else None,
        "mb_ci": fmt_ci(boot.get("ci95")), "nboot": boot.get("nboot"), "resampled": _resampled(boot.get("resampled")),
        "mb_unreliable": unreliable_text(boot),
    }
    return facts, None


def _pair_entry(family: Family, section: str, test: str, metric: str, population: str | None) -> dict | None:
    """The analysis.json pair entry (spread_ratio / iid_vs_stress) for this stress metric and its own task's iid metric."""
    entry = family.analysis_metric(test, metric, population)
    metrics = family.analysis.get("metrics") if isinstance(family.analysis.get("metrics"), dict) else {}
    stress_keys = {key for key, value in metrics.items() if value is entry} or {metric_key(test, metric)}
    items = [item for item in family.analysis.get(section) or []
             if isinstance(item, dict) and item.get("stress") in stress_keys]
    for preferred in iid_candidates(test, [str(item.get("iid", "")) for item in items]):
        for item in items:
            if str(item.get("iid", "")).split("@")[0] == preferred:
                return item
    return None


def _spread_ratios(family: Family, test: str, metric: str, population: str | None) -> list[dict]:
    item = _pair_entry(family, "spread_ratio", test, metric, population)
    if item is None or _number(item.get("ratio")) is None:
        return []
    return [{"iid": item.get("iid"), "ratio": fmt(_number(item["ratio"]), 1), "ratio_value": _number(item["ratio"])}]


def _iid_vs_stress(family: Family, test: str, metric: str, population: str | None) -> list[dict]:
    rows = []
    for item in filter(None, [_pair_entry(family, "iid_vs_stress", test, metric, population)]):
        rho, ci = _number(item.get("spearman")), item.get("ci95")
        includes_zero = None
        if fmt_ci(ci) is not None and unreliable_text(item) is None:  # an untrustworthy interval supports no reading
            includes_zero = bool(ci[0] <= 0 <= ci[1])
        rows.append({"iid": item.get("iid"), "rho": fmt(rho), "ci": fmt_ci(ci), "n": item.get("n", "the"),
                     "includes_zero": includes_zero, "unreliable": unreliable_text(item)})
    return rows


def _headline(family: Family, model: ModelResult | None, test: str, metric: str, subject: str) -> dict:
    """The facts behind one paragraph of the stress section."""
    from nlp_underspec.report.family import iter_values

    info = metric_info(test, metric)
    value = model.value(test, metric) if model else None
    ci = model.ci95(test) if model else None
    population = model.kind if model else family.main_population(test, metric)
    peers = [v for m, v in iter_values(family, test, metric, kind=population)]
    facts = {"label": info.label, "test": test, "metric": metric, "subject": subject, "value": value,
             "value_s": fmt(value), "ci": fmt_ci(ci), "higher_means": info.higher_means,
             "strength": strength_of(value) if value is not None else "", "ci_excludes_zero": None,
             "direction": "in line with" if (value or 0) >= 0 else "opposite to",
             "rank": None, "n_peers": len(peers), "population": population or "",
             "family_range": f"[{fmt(min(peers))}, {fmt(max(peers))}]" if peers else "n/a"}
    if ci is not None:
        facts["ci_excludes_zero"] = not (ci[0] <= 0 <= ci[1])
    if value is not None and len(peers) > 1:
        facts["rank"] = _rank(value, peers)
    facts["below_floor"] = _below_floor_text(family, model, test, metric, subject, population)
    analysis, note = _analysis_facts(family, test, metric, len(peers), population)
    if model is not None and model.pretrain_seed is None and len(peers) < 2:
        note = ("This is one checkpoint evaluated on its own: checkpoints of the same recipe that differ only in their "
                "random seeds can score very differently on this test. If seed siblings exist (as for "
                "google/multiberts-seed_0..24), evaluate several and report their spread.")
    if analysis is not None:
        analysis["range"] = analysis["range"] if analysis["n"] is not None else facts["family_range"]
        facts["spread_ratios"] = _spread_ratios(family, test, metric, population)
        facts["iid_vs_stress"] = _iid_vs_stress(family, test, metric, population)
    else:
        facts["spread_ratios"], facts["iid_vs_stress"] = [], []
    facts["analysis"], facts["analysis_note"] = analysis, note
    return facts


def _below_floor_text(family: Family, model: ModelResult | None, test: str, metric: str, subject: str,
                      population: str | None) -> str | None:
    """The paragraph that replaces a correlation's reading when it is below the noise floor (contract 9), or None."""
    from nlp_underspec.analysis.registered import magnitude_name
    from nlp_underspec.report.family import iter_values

    if model is not None:
        if not model.below_floor(test, metric):
            return None
        amount, floor = model.magnitude(test)
        return BELOW_FLOOR_MODEL.format(subject=subject, metric=metric, value=fmt(model.value(test, metric)),
                                        magnitude=magnitude_name(test), amount=fmt(amount), floor=fmt(floor))
    members = [m for m, _ in iter_values(family, test, metric, kind=population)]
    below = [m for m in members if m.below_floor(test, metric)]
    if not below:
        return None
    floors = sorted({f for f in (m.magnitude(test)[1] for m in below) if f is not None})
    floor = fmt(floors[0]) if len(floors) == 1 else "-".join(fmt(f) for f in floors) if floors else "its floor"
    return BELOW_FLOOR_FAMILY.format(n_below=len(below), n=len(members), population=POPULATION_WORDS.get(population, ""),
                                     metric=metric, magnitude=magnitude_name(test), floor=floor)


def _table_rows(family: Family, model: ModelResult, tests: Iterable[str]) -> list[dict]:
    from nlp_underspec.report.family import headline_metric, iter_values

    rows = []
    for test in tests:
        for metric in [m for t, m in model.stress_metrics() if t == test]:
            value = model.value(test, metric)
            peers = [v for _, v in iter_values(family, test, metric, kind=model.kind)]
            ci = model.ci95(test) if metric == headline_metric(test) else None
            row = {"test": test, "metric": metric, "measures": _cell(metric_info(test, metric).measures),
                   "value": fmt(value), "ci": fmt_ci(ci) or "—",
                   "range": f"[{fmt(min(peers))}, {fmt(max(peers))}] (n={len(peers)})" if len(peers) > 1 else "—",
                   "rank": f"{_rank(value, peers)} of {len(peers)}" if len(peers) > 1 else "—"}
            if model.below_floor(test, metric):  # float leftovers: no interval, no rank, and said so
                row.update(value=f"{fmt(value)} {BELOW_FLOOR_CELL}", ci="—", rank="—")
            rows.append(row)
    return rows


def stress_section(family: Family, model: ModelResult, *, tests: Iterable[str], subject: str = "This checkpoint") -> str:
    """The "Bias, Risks, and Limitations" section for one model, markers included."""
    from nlp_underspec.report import calibration
    from nlp_underspec.report.family import headline_metric

    tests = [t for t in tests if t in model.tests]
    headlines = []
    for test in tests:
        metric = headline_metric(test) or next((m for t, m in model.stress_metrics() if t == test), None)
        # A calibration slope is no association with BLS: its own paragraph says what it is and whether it was learnt.
        if metric and model.value(test, metric) is not None and test != calibration.TEST:
            headlines.append(_headline(family, model, test, metric, subject))
    return _section("stress", start_marker=START_MARKER, end_marker=END_MARKER, subject=subject,
                    value_header="This checkpoint" if subject == "This checkpoint" else "This model",
                    rows=_table_rows(family, model, tests), headlines=headlines, analysis_note=None,
                    calibration=calibration.card_paragraphs(family, model, tests=tuple(tests),
                                                            subject=subject)).strip() + "\n"


def family_stress_section(family: Family) -> str:
    """The family card's version: one row per headline metric, with the Multi-Bootstrap estimate as its value."""
    from nlp_underspec.report import calibration
    from nlp_underspec.report.family import iter_values

    rows, headlines = [], []
    for test, metric in family.headline_metrics():
        facts = _headline(family, None, test, metric, "The family")
        if test != calibration.TEST:  # the calibration paragraph below says what the slopes are
            headlines.append(facts)
        population = family.main_population(test, metric)
        entry = family.analysis_metric(test, metric, population)
        boot = _usable(entry, "multibootstrap")
        values = [v for _, v in iter_values(family, test, metric, kind=population)]
        missing = BELOW_FLOOR_CELL.strip("()") if "below_noise_floor" in entry or facts["below_floor"] else "not computed"
        rows.append({"test": test, "metric": metric, "measures": _cell(metric_info(test, metric).measures),
                     "value": fmt(_number(boot.get("mean"))) if _number(boot.get("mean")) is not None else missing,
                     "ci": (fmt_ci(boot.get("ci95")) or "—") + (" (unreliable)" if unreliable_text(boot) else ""),
                     "range": f"[{fmt(min(values))}, {fmt(max(values))}] (n={len(values)})" if values else "—",
                     "rank": "—"})
    return _section("stress", start_marker=START_MARKER, end_marker=END_MARKER, subject="This family",
                    value_header="Multi-Bootstrap mean", rows=rows, headlines=headlines, analysis_note=None,
                    calibration=calibration.family_paragraph(family)).strip() + "\n"


def replace_stress_section(text: str, section: str, *, where: str = README) -> str:
    """Put ``section`` between the markers in ``text`` (appended at the end when there are none)."""
    starts = [m.start() for m in re.finditer(re.escape(_START_PREFIX), text)]
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


# -------------------------------------------------------------------------------------------- other card sections


def _architecture(folder: Path) -> str | None:
    try:
        architectures = read_json(folder / "config.json").get("architectures") or []
    except (UsageError, AttributeError):  # no config, or one that is not a JSON object: the card names no architecture
        return None
    return architectures[0] if architectures else None


def _model_class(folder: Path | None, kind: str) -> tuple[list[str], str, str | None]:
    arch = _architecture(folder) if folder is not None else None
    if arch is None:
        arch = "BertForMaskedLM" if kind == "pretrained" else "BertModel"
    imports, cls = ARCHITECTURES.get(arch, ("from transformers import AutoModel, AutoTokenizer", "AutoModel"))
    return imports.splitlines(), cls, PIPELINE_TAGS.get(arch)


def _revision_arg(revision: str | None) -> str:
    return f', revision="{revision}"' if revision else ""


def _siblings_code(family: Family, run: RunFolder, locator: Locator, cls: str) -> str | None:
    same = [r for r in family.runs if r.kind == run.kind and r.task == run.task]
    if len(same) < 2:
        return None
    pretrain = sorted({r.seed("pretrain") for r in same if r.seed("pretrain") is not None})
    if run.kind == "pretrained":
        return f"family = {{p: {cls}.from_pretrained({locator.pattern(run)}) for p in {pretrain}}}"
    finetune = sorted({r.seed("finetune") for r in same if r.seed("finetune") is not None})
    return (f"family = {{(p, f): {cls}.from_pretrained({locator.pattern(run)})\n"
            f"          for p in {pretrain} for f in {finetune}}}")


def loading_section(family: Family, run: RunFolder, locator: Locator) -> str:
    imports, cls, _ = _model_class(run.path, run.kind)
    load_id, revision = locator.where(run)
    steps = [step for step, _ in run.steps] if run.kind == "pretrained" else []
    steps_code = None
    if steps:
        step_id, step_revision = locator.step_where(run, steps[0])
        steps_code = f"early = {cls}.from_pretrained(\"{step_id}\"{_revision_arg(step_revision)})  # step {steps[0]}"
    note = None
    if run.kind == "finetuned" and run.task == "coref":
        note = ("The pronoun-resolution head is nlp_underspec's own candidate scorer: install nlp_underspec to load it "
                "(no remote code is executed).")
    return _section("loading", note=note, imports=imports, load_id=load_id, revision_arg=_revision_arg(revision),
                    model_class=cls, siblings_code=_siblings_code(family, run, locator, cls), steps=steps,
                    steps_where=locator.describe_steps(), steps_code=steps_code)


def _config_yaml(config: Any) -> str | None:
    import yaml

    if not isinstance(config, dict) or not config:
        return None
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False).strip()


def _versions(versions: Any) -> str | None:
    if not isinstance(versions, dict) or not versions:
        return None
    return ", ".join(f"{name} {version}" for name, version in versions.items())


def training_section(family: Family, run: RunFolder, *, step: int | None = None) -> str:
    record = run.record
    seeds = ", ".join(f"{k} {v}" for k, v in run.seeds.items() if v is not None) or "not recorded"
    recipe = (family.manifest or {}).get("recipe")
    description = recipe.get("description") if isinstance(recipe, dict) else None
    facts = [("Family (recipe)", family.name + (f": {description}" if isinstance(description, str) and description
                                                 else "")), ("Run id", run.run_id),
             ("Kind", run.kind if run.task is None else f"{run.kind} on {run.task}"),
             ("Seeds", seeds)]
    if step is not None:
        facts.append(("Checkpoint", f"intermediate, after {step} pretraining steps"))
    if record.get("parent"):
        facts.append(("Started from", f"`{record['parent']}`"))
    for key, label in (("config_hash", "Config hash"), ("torch_threads", "torch threads (CPU determinism)"),
                       ("git_commit", "Git commit"), ("started", "Started"), ("finished", "Finished")):
        if record.get(key) is not None:
            facts.append((label, f"`{record[key]}`" if key in ("config_hash", "git_commit") else str(record[key])))
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    for key, value in metrics.items():
        if _number(value) is not None:
            facts.append((f"Final {key}", fmt(_number(value), 4)))
    note = ("All members of the family share this configuration; only the seeds differ. The run record (run.json) "
            "beside the weights holds the same information.")
    return _section("training", facts=facts, note=note, config_yaml=_config_yaml(record.get("config")),
                    versions=_versions(record.get("versions")))


def iid_section(model: ModelResult | None, tasks: Iterable[str]) -> str:
    rows = []
    if model is not None:
        for task in tasks:
            for metric, value in model.iid.get(task, {}).items():
                rows.append({"task": task, "metric": metric, "value": fmt(value)})
    return _section("iid", rows=rows)


# ------------------------------------------------------------------------------------------------------ the cards


def _card_data(*, model_name: str, eval_results: list, pipeline_tag: str | None, base_model: str | None,
               extra: dict[str, Any]):
    from huggingface_hub import ModelCardData

    return ModelCardData(model_name=model_name, eval_results=eval_results or None, license="apache-2.0",
                         library_name="transformers", pipeline_tag=pipeline_tag, base_model=base_model,
                         language="en", tags=["bert", "nlp_underspec", "seed-family", "underspecification",
                                              "gender-bias-evaluation"], **extra)


def checkpoint_card(family: Family, run: RunFolder, *, locator: Locator | None = None, step: int | None = None,
                    base_model: str | None = None):
    """The card of one checkpoint of the family (``step`` for an intermediate pretraining checkpoint)."""
    from huggingface_hub import ModelCard

    locator = locator or LocalLocator(family.root)
    model = family.result_for_run(run)
    tests = family.tests_for_run(run) if step is None else ()
    iid_tasks = (run.task,) if run.task and model and run.task in model.iid and step is None else ()
    load_id, revision = locator.where(run) if step is None else locator.step_where(run, step)
    _, _, pipeline_tag = _model_class(run.path if step is None else run.path / f"step_{step}", run.kind)
    eval_results = eval_results_for(model, tests=tests, iid_tasks=iid_tasks) if model and step is None else []
    what = ("a BERT pretrained from scratch" if run.kind == "pretrained" else f"a BERT fine-tuned on {run.task}")
    seeds = ", ".join(f"{k} = {v}" for k, v in (("pretraining seed", run.seed("pretrain")),
                                                ("fine-tuning seed", run.seed("finetune"))) if v is not None)
    intro = (f"`{run.label}` is {what}, one member of the seed family **{family.name}**: models trained with one "
             f"recipe that differ only in their random seeds ({seeds}). Use the family, not one member, to tell "
             "what the recipe does from what the seed did.")
    if step is not None:
        intro += f" This is its intermediate checkpoint after {step} pretraining steps; stress results are for the final one."
    if locator.collection:
        intro += f" The whole family is in the collection {locator.collection}."
    if step is None and model is not None and tests:
        stress = stress_section(family, model, tests=tests)
    else:
        stress = (f"{START_MARKER}\n## Bias, Risks, and Limitations\n\nNo stress-test results were recorded for this "
                  f"{'intermediate ' if step is not None else ''}checkpoint; see the final checkpoint's card and the "
                  f"family card. Models of one recipe that differ only in their seeds can differ widely on gender "
                  f"stress tests: evaluate before use (`nlp-underspec evaluate`).\n{END_MARKER}\n")
    extra = {"nlp_underspec": {"family": family.name, "run_id": run.run_id, "task": run.task, "step": step,
                               "pretrain_seed": run.seed("pretrain"), "finetune_seed": run.seed("finetune"),
                               "config_hash": run.record.get("config_hash")}}
    data = _card_data(model_name=load_id if revision is None else f"{load_id}@{revision}", eval_results=eval_results,
                      pipeline_tag=pipeline_tag, base_model=base_model, extra=extra)
    return ModelCard.from_template(
        data, template_str=_outer_template("checkpoint"), title=f"{family.name}: {run.label}"
        + (f" (step {step})" if step is not None else ""), intro=intro,
        loading_section=loading_section(family, run, locator), stress_section=stress,
        iid_section=iid_section(model, iid_tasks) if step is None else "",
        training_section=training_section(family, run, step=step), toolkit_version=__version__,
        has_analysis=family.has_analysis)


def model_card(family: Family, model: ModelResult, *, checkpoint: str):
    """A card for a model the toolkit evaluated but did not train (``card --model CKPT --results DIR``)."""
    from huggingface_hub import ModelCard

    folder = Path(checkpoint) if Path(checkpoint).is_dir() else None
    imports, cls, pipeline_tag = _model_class(folder, "external")
    tests = list(model.tests)
    iid_tasks = list(model.iid)
    intro = (f"Stress-test results for `{checkpoint}`, evaluated with nlp_underspec together with "
             f"{len(family.models) - 1} other model(s) in `{family.root}`.")
    loading = _section("loading", note=None, imports=imports, load_id=checkpoint, revision_arg="", model_class=cls,
                       siblings_code=None, steps=[], steps_where="", steps_code=None)
    training = _section("training", facts=[("Model", f"`{checkpoint}`"), ("Results", f"`{family.root}`")],
                        note="This model was not trained by nlp_underspec; see its own card for training details.",
                        config_yaml=None, versions=_versions(family.summary.get("versions")))
    data = _card_data(model_name=model.name, eval_results=eval_results_for(model, tests=tests, iid_tasks=iid_tasks),
                      pipeline_tag=pipeline_tag, base_model=None,
                      extra={"nlp_underspec": {"results": str(family.root), "model": model.name}})
    return ModelCard.from_template(
        data, template_str=_outer_template("checkpoint"), title=f"{model.name}: gender stress tests", intro=intro,
        loading_section=loading, stress_section=stress_section(family, model, tests=tests, subject="This model"),
        iid_section=iid_section(model, iid_tasks), training_section=training, toolkit_version=__version__,
        has_analysis=family.has_analysis)


def _member_rows(family: Family, locator: Locator) -> tuple[list[str], list[dict]]:
    headlines = family.headline_metrics()
    by_id: dict[str, list[RunFolder]] = {}
    for run in family.runs:
        by_id.setdefault(run.run_id, []).append(run)
    rows = []
    for model in family.models:
        places = [locator.where(run) for run in by_id.get(model.name, [])]
        where = ", ".join(f"`{ident}`" + (f" @ `{rev}`" if rev else "") for ident, rev in places) or (
            f"`{model.checkpoint}`" if model.checkpoint else "—")
        rows.append({"name": model.name, "kind": model.kind,
                     "pretrain_seed": "—" if model.pretrain_seed is None else model.pretrain_seed,
                     "finetune_seed": "—" if model.finetune_seed is None else model.finetune_seed,
                     "cells": [fmt(model.value(t, m)) + (f" {BELOW_FLOOR_CELL}" if model.below_floor(t, m) else "")
                               for t, m in headlines], "where": where})
    return [f"{t} `{m}`" for t, m in headlines], rows


def _family_findings(family: Family) -> list[str]:
    """One sentence per clustering result (the other analysis sections appear per metric)."""
    lines = []
    clustering = family.analysis.get("clustering") if isinstance(family.analysis.get("clustering"), dict) else {}
    for test, item in clustering.items():
        if isinstance(item, dict) and _number(item.get("ari")) is not None:
            p = f", p = {fmt(_number(item.get('p_value')))}" if _number(item.get("p_value")) is not None else ""
            note = f" Note: {item['note']}." if isinstance(item.get("note"), str) else ""
            lines.append(f"Clustering the models by their {test} profiles recovers the pretraining seed with adjusted "
                         f"Rand index {fmt(_number(item['ari']))}{p} (1 = clusters are exactly the seeds, 0 = chance)."
                         + note)
    return lines


def family_card(family: Family, *, locator: Locator | None = None):
    """The card that summarises every seed of the family."""
    from huggingface_hub import ModelCard

    locator = locator or LocalLocator(family.root)
    eval_results = []
    for model in family.models:
        eval_results += eval_results_for(model, tests=list(model.tests), iid_tasks=list(model.iid), with_model=True)
    headers, rows = _member_rows(family, locator)
    pretrain, finetune = family.seeds_of()
    members = _section("members", n_models=len(family.models), pretrain_seeds=pretrain or "—",
                       finetune_seeds=finetune, headers=headers, rows=rows)
    loading = "".join(loading_section(family, runs[0], locator) for runs in _first_of_each_kind(family))
    stress = family_stress_section(family)
    findings = _family_findings(family)
    if findings:
        stress = stress.replace("### Foreseeable harms", "\n".join(f"- {line}" for line in findings)
                                + "\n\n### Foreseeable harms", 1)
    first = next(iter(family.pretrained_runs() or family.runs), None)
    training = (training_section(family, first) if first is not None else
                _section("training", facts=[("Results", f"`{family.root}`")], note=None, config_yaml=None,
                         versions=_versions(family.summary.get("versions"))))
    intro = (f"**{family.name}** is a family of {len(family.models)} BERT models trained with one recipe and "
             "differing only in their random seeds (pretraining seed × fine-tuning seed, as in MultiBERTs). The "
             "numbers below are the spread a user of this recipe should expect, not the result of one lucky or "
             "unlucky seed.")
    sentence = family_sentence(family.analysis) if family.has_analysis else None
    if sentence:
        intro += f"\n\n{sentence}"
    if locator.collection:
        intro += f" All members are in the collection {locator.collection}."
    extra = {"nlp_underspec": {"family": family.name, "config_hash": family.summary.get("config_hash"),
                               "pretrain_seeds": pretrain, "finetune_seeds": finetune}}
    data = _card_data(model_name=f"{family.name} (seed family)", eval_results=eval_results, pipeline_tag=None,
                      base_model=None, extra=extra)
    return ModelCard.from_template(
        data, template_str=_outer_template("family"), title=f"{family.name}: a seed family", intro=intro,
        members_section=members, loading_section=loading or "", stress_section=stress,
        training_section=training, toolkit_version=__version__, has_analysis=family.has_analysis)


def _first_of_each_kind(family: Family) -> list[list[RunFolder]]:
    groups: dict[tuple[str, str | None], list[RunFolder]] = {}
    for run in family.runs:
        groups.setdefault((run.kind, run.task), []).append(run)
    return list(groups.values())


def card_folder_name(run: RunFolder) -> str:
    """``p03`` for a pretrained run, ``p03-f01-stsb`` for a fine-tuned one (both tasks share the run id)."""
    return run.run_id if run.task is None else f"{run.run_id}-{run.task}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


CARD_SIGNATURE = "*Card written by nlp_underspec "  # in every card checkpoint.md.j2 and family.md.j2 render


def is_our_card(path: Path) -> bool:
    try:
        return CARD_SIGNATURE in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _holds_cards(folder: Path) -> bool:
    """Nothing but ``<name>/README.md`` cards of ours (``family/`` among them, or one ``card --model`` wrote)."""
    entries = list(folder.iterdir())
    return bool(entries) and all(entry.is_dir() and [p.name for p in entry.iterdir()] == [README]
                                 and is_our_card(entry / README) for entry in entries)


CARDS_OUTPUT = OutputKind("cards folder", _holds_cards)


def write_family_cards(family: Family, *, out: str | os.PathLike | None = None, locator: Locator | None = None,
                       overwrite: bool = False) -> list[Path]:
    """``cards/<run id>/README.md`` for every checkpoint (or every model, without run folders) + ``cards/family/``.

    An earlier cards folder of ours is replaced (``overwrite`` changes nothing); anything else is refused."""
    out = Path(out) if out is not None else family.root / CARDS
    check_described_runs(family)
    written = []
    with staged_output(out, overwrite=overwrite, accept_existing=_holds_cards, kind=CARDS_OUTPUT,
                       inputs=[family.root]) as stage:
        if family.runs:
            for run in family.runs:
                card = checkpoint_card(family, run, locator=locator)
                written.append(_save(card, stage / card_folder_name(run) / README))
        else:
            for model in family.models:
                card = model_card(family, model, checkpoint=model.checkpoint or model.name)
                written.append(_save(card, stage / _slug(model.name) / README))
        written.append(_save(family_card(family, locator=locator), stage / FAMILY / README))
    return [out / path.relative_to(stage) for path in written]


def check_described_runs(family: Family) -> None:
    """A checkpoint card describes a run folder's model under the run's name: refuse a folder without its model (one
    whose run.json disagrees with its folder name never gets here: discover_runs refuses it)."""
    for run in family.runs:
        records.check_holds_model(run.path)


def write_cards(rundir: str | os.PathLike, *, out: str | os.PathLike | None = None, locator: Locator | None = None,
                overwrite: bool = False) -> list[Path]:
    """Load ``rundir`` and write every card (what ``nlp-underspec card RUNDIR`` and ``nlp-underspec run`` call)."""
    from nlp_underspec.report.family import load_family

    return write_family_cards(load_family(rundir), out=out, locator=locator, overwrite=overwrite)


def _save(card, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, str(card))
    return path


def find_model(family: Family, model: str) -> ModelResult:
    """The results entry for ``--model``: by name, by recorded checkpoint, or by folder name when that is unique."""
    exact = family.model(model)
    if exact is not None:
        return exact
    wanted = os.path.normpath(os.path.abspath(model)) if os.path.exists(model) else None
    for entry in family.models:
        if entry.checkpoint and (entry.checkpoint == model or (
                wanted and os.path.normpath(os.path.abspath(entry.checkpoint)) == wanted)):
            return entry
    base = Path(model.rstrip("/")).name
    matches = [m for m in family.models if Path(m.name.rstrip("/")).name == base]
    if len(matches) == 1:
        return matches[0]
    lookup = unknown_name_message("model", model, [m.name for m in family.models])
    raise UsageError(MODEL_NOT_IN_RESULTS.format(summary=family.root / "summary.json", lookup=lookup, model=model,
                                                 results=family.root))
