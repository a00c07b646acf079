"""Reading a finished experiment folder as one family: results, seed analysis and run folders, checked to agree.

The report, the model cards and the Hub push all start here. Everything is read only: ``summary.json`` and
``scores.parquet`` (docs/design.md, contracts 4 and 5; ``pretrained/`` merged in by :mod:`.scores`' rule),
``analysis.json`` (any missing section means "not computed" and is reported as such, never an error), the run records
in ``pretrain/p{p}/`` and ``finetune/<task>/p{p}-f{f}/`` (:mod:`.runs`), and ``manifest.json`` when the sweep wrote one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nlp_underspec.analysis.registered import headline_metrics, paired_task
from nlp_underspec.analysis.schema import check_analysis
from nlp_underspec.artifacts import ANALYSIS, MANIFEST, SCORES, SELECTION, SUMMARY, parse_run_id
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.models import ModelResult, model_results
from nlp_underspec.experiment.runs import RunFolder, discover_runs
from nlp_underspec.stored_results import read_experiment_scores, read_experiment_triplets
from nlp_underspec.io import read_json, read_json_object
from nlp_underspec.results import NO_RESULTS, read_summary
from nlp_underspec.triplet import Predictions

log = logging.getLogger(__name__)

NOT_A_FOLDER = "{path} is not a folder. Pass the experiment folder that holds summary.json (e.g. runs/tiny)."
NO_FOLDER = "{path} does not exist. Pass the experiment folder that holds summary.json (e.g. runs/tiny)."
ANALYSIS_HINT = "Re-run `nlp-underspec analyze` or delete the file."  # after read_json_object names a corrupt one
RESULTS_DONT_MATCH_RUNS = ("{summary} does not match the run folders in {root}: {detail}. Re-run the scoring "
                           "(`nlp-underspec run` or `evaluate`) so the results cover exactly these runs, or pass the "
                           "folder the results came from.")
POPULATIONS = ("finetuned", "pretrained", "external")
SELECTION_KEYS = {"stress", "selected", "selection_value", "confirmation_value", "confirmation_rank", "n_members"}


def metric_key(test: str, metric: str) -> str:
    """``<test>/<metric>``: how analysis.json names a metric."""
    return f"{test}/{metric}"


@dataclass
class Family:
    root: Path
    name: str
    summary: dict[str, Any]
    scores: pd.DataFrame
    analysis: dict[str, Any]  # {} when analysis.json is absent
    has_analysis: bool
    models: list[ModelResult]
    runs: list[RunFolder] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None  # selection.json of `nlp-underspec select`, when the folder has one

    # ------------------------------------------------------------------------------------------------ lookups
    def model(self, name: str) -> ModelResult | None:
        return next((m for m in self.models if m.name == name), None)

    def result_for_run(self, run: RunFolder) -> ModelResult | None:
        return self.model(run.run_id)

    def tests_for_run(self, run: RunFolder) -> tuple[str, ...]:
        """The stress tests whose results belong to this checkpoint (a fine-tuned pair splits them by task)."""
        result = self.result_for_run(run)
        tests = tuple(result.tests) if result else ()
        if run.task is None:
            return tests
        return tuple(t for t in tests if paired_task(t) in (run.task, None))

    def pretrained_runs(self) -> list[RunFolder]:
        return [r for r in self.runs if r.kind == "pretrained"]

    def finetuned_runs(self) -> list[RunFolder]:
        return [r for r in self.runs if r.kind == "finetuned"]

    def headline_metrics(self) -> list[tuple[str, str]]:
        """One (test, metric) per stress test present, in the order tests first appear."""
        tests = list(dict.fromkeys(t for m in self.models for t in m.tests))
        pairs = []
        for test in tests:
            metric = next(iter(headline_metrics(test)), None)
            if metric is None or all(m.value(test, metric) is None for m in self.models):
                candidates = [p for m in self.models for p in m.stress_metrics() if p[0] == test]
                metric = candidates[0][1] if candidates else None
            if metric and any(m.value(test, metric) is not None for m in self.models):
                pairs.append((test, metric))
        return pairs

    def iid_metrics(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((task, metric) for m in self.models for task, values in m.iid.items()
                                  for metric in values))

    def peers(self, model: ModelResult) -> list[ModelResult]:
        """The models a checkpoint is ranked against: same kind (a raw MLM probe is not compared with a fine-tuned scorer)."""
        return [m for m in self.models if m.kind == model.kind]

    def analysis_metric(self, test: str, metric: str, population: str | None = None) -> dict[str, Any]:
        """analysis.json's entry for a metric of one population (``finetuned`` / ``pretrained``), {} when absent.

        The analysis keys a metric ``test/metric``, adding ``@pretrained`` when both populations are present; each
        entry also names its population, which is what is matched here.
        """
        entries = self.analysis.get("metrics") if isinstance(self.analysis.get("metrics"), dict) else {}
        candidates = [e for e in entries.values() if isinstance(e, dict) and e.get("test") == test
                      and e.get("metric") == metric]
        if population is not None:
            for entry in candidates:
                if entry.get("population") == population:
                    return entry
        plain = entries.get(metric_key(test, metric))
        if isinstance(plain, dict) and (population is None or plain.get("population") in (None, population)):
            return plain
        if population is None and candidates:
            return next((e for e in candidates if e.get("population") == "finetuned"), candidates[0])
        return {}

    def main_population(self, test: str, metric: str) -> str | None:
        """The kind of model a family-level statement about a metric is about: fine-tuned ones when any have it."""
        kinds = {m.kind for m in self.models if m.value(test, metric) is not None}
        return next((kind for kind in POPULATIONS if kind in kinds), None)

    def analysis_section(self, name: str) -> Any:
        return self.analysis.get(name)

    def seeds_of(self, kind: str | None = None) -> tuple[list[int], list[int]]:
        models = [m for m in self.models if kind is None or m.kind == kind]
        pretrain = sorted({m.pretrain_seed for m in models if m.pretrain_seed is not None})
        finetune = sorted({m.finetune_seed for m in models if m.finetune_seed is not None})
        return pretrain, finetune

    def triplets(self) -> dict[str, Predictions]:
        """Every predictions triplet by test, ``pretrained/``'s models added by the scores' rule (read on each call:
        most readers of a family need none)."""
        return read_experiment_triplets(self.root)

    def per_occupation(self, test: str) -> pd.DataFrame:
        """Rows of scores.parquet for one test that carry an occupation (its registered per_occupation_metric)."""
        if self.scores.empty:
            return self.scores
        rows = self.scores[(self.scores["test"] == test) & self.scores["occupation"].notna()]
        return rows.reset_index(drop=True)


# ------------------------------------------------------------------------------------------------------- reading


def _read_analysis(root: Path) -> tuple[dict[str, Any], bool]:
    path = root / ANALYSIS
    if not path.is_file():
        return {}, False
    return check_analysis(read_json_object(path, hint=ANALYSIS_HINT), path), True


def _mismatch(models: list[ModelResult], runs: list[RunFolder]) -> str | None:
    """What does not line up between the results' run ids and the run folders, or None."""
    if not runs:
        return None
    folder_ids = {r.run_id for r in runs}
    ours = [m.name for m in models if m.kind != "external" or parse_run_id(m.name) is not None]
    no_folder = [name for name in ours if name not in folder_ids]
    scored = {m.name for m in models}
    # A pretrained run need not be scored itself (evaluate.score_pretrained: false) if its fine-tuned children are.
    no_results = sorted({r.run_id for r in runs if r.run_id not in scored
                         and not (r.kind == "pretrained" and any(s.startswith(r.run_id + "-") for s in scored))})
    parts = []
    if no_folder:
        parts.append(f"results list {', '.join(no_folder)} with no run folder")
    if no_results:
        parts.append(f"run folders {', '.join(no_results)} have no results")
    return "; ".join(parts) or None


def _family_name(root: Path, summary: dict[str, Any], manifest: dict[str, Any] | None) -> str:
    for source in (manifest or {}, summary):
        for key in ("name", "recipe_name", "experiment"):
            if isinstance(source.get(key), str) and source[key]:
                return source[key]
        recipe = source.get("recipe")
        if isinstance(recipe, dict) and isinstance(recipe.get("name"), str) and recipe["name"]:
            return recipe["name"]
    return root.resolve().name


def _read_manifest(root: Path) -> dict[str, Any] | None:
    if not (root / MANIFEST).is_file():
        return None
    try:
        manifest = read_json(root / MANIFEST)
    except UsageError as err:  # the manifest only names the family: the report can do without it
        log.warning("Ignoring %s", err)
        return None
    return manifest if isinstance(manifest, dict) else None


def _read_selection(root: Path) -> dict[str, Any] | None:
    """``selection.json`` when present and readable as a selection; anything else is left out with a warning (the
    report can do without it)."""
    path = root / SELECTION
    if not path.is_file():
        return None
    try:
        selection = read_json_object(path)
    except UsageError as err:
        log.warning("Ignoring %s", err)
        return None
    if not SELECTION_KEYS <= set(selection):
        log.warning("Ignoring %s: not a selection of `nlp-underspec select` (no %s)", path,
                    ", ".join(sorted(SELECTION_KEYS - set(selection))))
        return None
    return selection


def _check_folder(root: Path) -> None:
    if not root.exists():
        raise UsageError(NO_FOLDER.format(path=root))
    if not root.is_dir():
        raise UsageError(NOT_A_FOLDER.format(path=root))


def load_family(root: str | os.PathLike, *, check_runs: bool = True) -> Family:
    """Read an experiment folder; with ``check_runs``, refuse results whose run ids do not match the run folders."""
    root = Path(root)
    _check_folder(root)
    summary = read_summary(root)
    scores = read_experiment_scores(root, required=False)
    models = model_results(summary, scores, root / SUMMARY)
    analysis, has_analysis = _read_analysis(root)
    runs = discover_runs(root)
    if runs and not (root / SCORES).is_file():  # a family's scores, which `analyze` refuses to go without too
        raise UsageError(NO_RESULTS.format(path=root, name=SCORES))
    if check_runs:
        problem = _mismatch(models, runs)
        if problem:
            raise UsageError(RESULTS_DONT_MATCH_RUNS.format(summary=root / SUMMARY, root=root, detail=problem))
    manifest = _read_manifest(root)
    return Family(root=root, name=_family_name(root, summary, manifest), summary=summary, scores=scores,
                  analysis=analysis, has_analysis=has_analysis, models=models, runs=runs, manifest=manifest,
                  selection=_read_selection(root))


def iter_values(family: Family, test: str, metric: str, *, kind: str | None = None) -> Iterator[tuple[ModelResult, float]]:
    """(model, value) for every model of ``kind`` (any when None) that has this metric."""
    for model in family.models:
        if kind is not None and model.kind != kind:
            continue
        value = model.value(test, metric)
        if value is not None:
            yield model, value
