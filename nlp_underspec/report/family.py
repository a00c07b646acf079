"""Reading a finished experiment folder as one family: results, seed analysis and run folders, checked to agree.

The report, the model cards and the Hub push all start here. Everything is read only: ``summary.json`` and
``scores.parquet`` (contracts 4 and 5), ``analysis.json`` (the analysis engineer's file; any missing section means
"not computed" and is reported as such, never an error), the run records in ``pretrain/p{p}/`` and
``finetune/<task>/p{p}-f{f}/`` (with ``step_<K>/`` intermediate checkpoints), and ``manifest.json`` when the sweep
wrote one.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nlp_underspec.analysis.schema import check_analysis
from nlp_underspec.config import TASKS
from nlp_underspec.errors import UsageError
from nlp_underspec.io import read_json, read_json_object
from nlp_underspec import records
from nlp_underspec.records import RUN_RECORD, read_run_record
from nlp_underspec.results import NO_RESULTS, SCORES, SUMMARY, read_scores, read_summary

log = logging.getLogger(__name__)

ANALYSIS = "analysis.json"
PRETRAINED_PART = "pretrained"  # where the sweep keeps the pretrained checkpoints' scores (sweep.pipeline.PRETRAINED_DIR)
MANIFEST = "manifest.json"
RUN_ID = re.compile(r"^p(\d+)(?:-f(\d+))?$|^f(\d+)$")
STEP_FOLDER = re.compile(r"^step_(\d+)$")

NOT_A_FOLDER = "{path} is not a folder. Pass the experiment folder that holds summary.json (e.g. runs/tiny)."
NO_FOLDER = "{path} does not exist. Pass the experiment folder that holds summary.json (e.g. runs/tiny)."
NO_MODELS = "{path} lists no models. Run `nlp-underspec evaluate` or `nlp-underspec run` to produce results."
MODEL_WITHOUT_NAME = "{path}: models[{index}] has no 'model' field (DESIGN.md contract 5). Re-run the scoring."
ANALYSIS_HINT = "Re-run `nlp-underspec analyze` or delete the file."  # after read_json_object names a corrupt one
RESULTS_DONT_MATCH_RUNS = ("{summary} does not match the run folders in {root}: {detail}. Re-run the scoring "
                           "(`nlp-underspec run` or `evaluate`) so the results cover exactly these runs, or pass the "
                           "folder the results came from.")

# Short names and plain-language readings for the cards and figures; what a metric *is* comes from its stress test.
LABELS = {("sts_gender", "pearson_bls"): "STS gender r", ("sts_gender", "spearman_bls"): "STS gender ρ",
          ("sts_gender", "mean_abs_delta"): "STS mean |delta|", ("winogender", "bias_r"): "Winogender bias r",
          ("winogender", "accuracy"): "Winogender accuracy"}
READINGS = {("sts_gender", "pearson_bls"): "similarity judgements follow occupational gender statistics more closely",
            ("sts_gender", "spearman_bls"): "similarity judgements follow occupational gender statistics more closely",
            ("winogender", "bias_r"): "pronoun resolution follows occupational gender statistics more closely"}
DIRECTION_READINGS = {True: "better (task skill, not bias)", False: "larger gender gaps",
                      None: "a stronger effect in the positive direction (0 is none)"}


@dataclass(frozen=True)
class MetricInfo:
    label: str
    measures: str
    higher_means: str


def _stress_test(name: str):
    """The registered stress test (the one home of what its metrics mean), or None for a name not registered here."""
    try:
        from nlp_underspec.stress.registry import get_stress_test

        return get_stress_test(name)
    except (UsageError, ImportError):
        return None


def headline_metric(test: str) -> str | None:
    """The metric a stress test is judged by: the first of its registered headline metrics."""
    registered = _stress_test(test)
    headline = getattr(registered, "headline", ()) if registered is not None else ()
    return headline[0] if headline else None


def per_occupation_metric(test: str) -> str | None:
    """The metric of scores.parquet's per-occupation rows of a test (``delta`` for sts_gender, ``bias`` for winogender)."""
    registered = _stress_test(test)
    return getattr(registered, "per_occupation_metric", None) if registered is not None else None


def task_for_test(test: str) -> str | None:
    """The fine-tuning task whose network a stress test scores (the registry's ``pairs_with_task``: sts_gender ->
    stsb, winogender -> coref), or None for a test that names none."""
    from nlp_underspec.analysis.registered import paired_task

    return paired_task(test)


IID_PREFERENCE = ("dev_pearson", "dev_spearman", "dev_accuracy")


def iid_candidates(test: str, available: Iterable[str] = ()) -> list[str]:
    """The iid metrics a stress test is read against, best first: only its own task's dev metrics (one network per
    pairing, DESIGN.md contract 8; a stress set's accuracy is a stress metric, not an iid one), the usual ones first,
    then any other of ``available`` from that task (a new head's own dev metric)."""
    task = task_for_test(test)
    if not task:
        return []
    preferred = [f"{task}/{metric}" for metric in IID_PREFERENCE]
    return preferred + [key for key in available if key.split("@")[0].startswith(f"{task}/") and key not in preferred]


def metric_info(test: str, metric: str) -> MetricInfo:
    registered = _stress_test(test)
    info = registered.metrics.get(metric) if registered is not None else None
    measures = info.description if info is not None else f"'{metric}' of the '{test}' stress test"
    reading = READINGS.get((test, metric)) or (DIRECTION_READINGS[info.higher_is_better] if info is not None
                                               else "a larger value of this metric")
    return MetricInfo(LABELS.get((test, metric), f"{test} {metric}"), measures, reading)


def metric_key(test: str, metric: str) -> str:
    """``sts_gender/pearson_bls``: how analysis.json names a metric."""
    return f"{test}/{metric}"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class ModelResult:
    """One entry of ``summary.json``'s ``models``, with its iid metrics gathered from the summary or the scores."""

    name: str
    pretrain_seed: int | None
    finetune_seed: int | None
    kind: str  # pretrained | finetuned | external
    checkpoint: str | None
    tests: dict[str, dict[str, Any]]
    iid: dict[str, dict[str, float]]

    def value(self, test: str, metric: str) -> float | None:
        if test in self.tests:
            return _finite(self.tests[test].get(metric))
        return _finite(self.iid.get(test, {}).get(metric))

    def ci95(self, test: str) -> tuple[float, float] | None:
        """The interval summary.json gives for a test's headline metric."""
        ci = self.tests.get(test, {}).get("ci95")
        if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(v) is not None for v in ci):
            return float(ci[0]), float(ci[1])
        return None

    def stress_metrics(self) -> list[tuple[str, str]]:
        """(test, metric) for every numeric score of every stress test (counts like n_occupations, and how a score was
        made: noise_floor, scale, excluded)."""
        from nlp_underspec.analysis.noise_floor import NOT_METRICS

        pairs = []
        for test, values in self.tests.items():
            for metric, value in values.items():
                if _finite(value) is not None and not metric.startswith("n_") and metric not in NOT_METRICS:
                    pairs.append((test, metric))
        return pairs

    def below_floor(self, test: str, metric: str) -> bool:
        """True when ``metric`` is a correlation of ``test`` that this model's noise floor makes float leftovers."""
        from nlp_underspec.analysis.registered import signal_metrics

        return bool(self.tests.get(test, {}).get("below_noise_floor")) and metric in signal_metrics(test)

    def magnitude(self, test: str) -> tuple[float | None, float | None]:
        """This model's magnitude for ``test`` (mean |bias|, mean |delta|) and the test's noise floor for it."""
        from nlp_underspec.analysis.registered import magnitude_metric

        name = magnitude_metric(test)
        block = self.tests.get(test, {})
        return (_finite(block.get(name)) if name else None), _finite(block.get("noise_floor"))


@dataclass(frozen=True)
class RunFolder:
    """A complete run folder: a checkpoint this toolkit trained."""

    run_id: str
    kind: str  # pretrained | finetuned
    task: str | None
    path: Path
    record: dict[str, Any]
    steps: tuple[tuple[int, Path], ...] = ()  # intermediate checkpoints, ascending

    @property
    def seeds(self) -> dict[str, Any]:
        return dict(self.record.get("seeds") or {})

    def seed(self, name: str) -> int | None:
        """``pretrain`` / ``finetune`` / ``init`` / ``data`` / ``mask`` seed, whichever spelling the record uses."""
        seeds = self.seeds
        for key in (f"{name}_seed", name):
            if isinstance(seeds.get(key), int):
                return seeds[key]
        match = RUN_ID.match(self.run_id)
        if match and name == "pretrain" and match.group(1) is not None:
            return int(match.group(1))
        if match and name == "finetune" and (match.group(2) or match.group(3)) is not None:
            return int(match.group(2) or match.group(3))
        return None

    @property
    def label(self) -> str:
        return self.run_id if self.task is None else f"{self.task}/{self.run_id}"


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
        return tuple(t for t in tests if task_for_test(t) in (run.task, None))

    def pretrained_runs(self) -> list[RunFolder]:
        return [r for r in self.runs if r.kind == "pretrained"]

    def finetuned_runs(self) -> list[RunFolder]:
        return [r for r in self.runs if r.kind == "finetuned"]

    def headline_metrics(self) -> list[tuple[str, str]]:
        """One (test, metric) per stress test present, in the order tests first appear."""
        tests = list(dict.fromkeys(t for m in self.models for t in m.tests))
        pairs = []
        for test in tests:
            metric = headline_metric(test)
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
        return next((kind for kind in ("finetuned", "pretrained", "external") if kind in kinds), None)

    def analysis_section(self, name: str) -> Any:
        return self.analysis.get(name)

    def seeds_of(self, kind: str | None = None) -> tuple[list[int], list[int]]:
        models = [m for m in self.models if kind is None or m.kind == kind]
        pretrain = sorted({m.pretrain_seed for m in models if m.pretrain_seed is not None})
        finetune = sorted({m.finetune_seed for m in models if m.finetune_seed is not None})
        return pretrain, finetune

    def per_occupation(self, test: str) -> pd.DataFrame:
        """Rows of scores.parquet for one test that carry an occupation (sts_gender delta, winogender bias)."""
        if self.scores.empty:
            return self.scores
        rows = self.scores[(self.scores["test"] == test) & self.scores["occupation"].notna()]
        return rows.reset_index(drop=True)


# ------------------------------------------------------------------------------------------------------- reading


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _kind_of(entry: dict[str, Any], name: str) -> str:
    kind = entry.get("kind")
    if kind in ("pretrained", "finetuned", "external"):
        return kind
    match = RUN_ID.match(name)
    if not match:
        return "external"
    return "pretrained" if match.group(2) is None and match.group(3) is None else "finetuned"


def _iid_from_scores(scores: pd.DataFrame, name: str) -> dict[str, dict[str, float]]:
    if scores.empty:
        return {}
    rows = scores[(scores["model"] == name) & scores["occupation"].isna() & scores["test"].isin(list(TASKS))]
    iid: dict[str, dict[str, float]] = {}
    for row in rows.itertuples(index=False):
        iid.setdefault(str(row.test), {})[str(row.metric)] = float(row.value)
    return iid


def _model_results(summary: dict[str, Any], scores: pd.DataFrame, path: Path) -> list[ModelResult]:
    entries = summary.get("models")
    if not isinstance(entries, list) or not entries:
        raise UsageError(NO_MODELS.format(path=path))
    models = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("model"):
            raise UsageError(MODEL_WITHOUT_NAME.format(path=path, index=index))
        name = str(entry["model"])
        tests = {t: dict(v) for t, v in (entry.get("tests") or {}).items() if isinstance(v, dict)}
        iid = entry.get("iid")
        iid = ({t: {k: float(v) for k, v in values.items() if _finite(v) is not None}
                for t, values in iid.items() if isinstance(values, dict)} if isinstance(iid, dict)
               else _iid_from_scores(scores, name))
        models.append(ModelResult(name=name, pretrain_seed=_int_or_none(entry.get("pretrain_seed")),
                                  finetune_seed=_int_or_none(entry.get("finetune_seed")), kind=_kind_of(entry, name),
                                  checkpoint=entry.get("checkpoint"), tests=tests, iid=iid))
    return models


def _read_scores(root: Path) -> pd.DataFrame:
    """scores.parquet, plus the sweep's separate one for the pretrained checkpoints (empty when there is none)."""
    frames = [read_scores(folder) for folder in (root, root / PRETRAINED_PART) if (folder / SCORES).is_file()]
    if not frames:
        return pd.DataFrame(columns=["model", "pretrain_seed", "finetune_seed", "test", "metric", "value", "occupation"])
    scores = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return scores.drop_duplicates(["model", "test", "metric", "occupation"], keep="first").reset_index(drop=True)


def _read_analysis(root: Path) -> tuple[dict[str, Any], bool]:
    path = root / ANALYSIS
    if not path.is_file():
        return {}, False
    return check_analysis(read_json_object(path, hint=ANALYSIS_HINT), path), True


def _steps(folder: Path) -> tuple[tuple[int, Path], ...]:
    steps = []
    for child in folder.iterdir():
        match = STEP_FOLDER.match(child.name)
        if match and child.is_dir() and (child / "config.json").is_file():
            steps.append((int(match.group(1)), child))
    return tuple(sorted(steps))


def _complete_record(folder: Path) -> dict[str, Any] | None:
    record = read_run_record(folder)
    if record is None or record.get("status") != "complete":
        if (folder / RUN_RECORD).is_file():
            log.warning("Skipping %s: its run is not complete.", folder)
        return None
    return record


def discover_runs(root: str | os.PathLike) -> list[RunFolder]:
    """The complete run folders under ``pretrain/`` and ``finetune/<task>/``, in seed order; a folder whose run.json
    disagrees with its name is refused here, so every reader of the family (report, cards, push) meets it."""
    root = Path(root)
    runs: list[RunFolder] = []
    pretrain = root / "pretrain"
    if pretrain.is_dir():
        for folder in sorted(p for p in pretrain.iterdir() if p.is_dir()):
            record = _complete_record(folder)
            if record is not None:
                records.check_run_folder_name(folder, record)
                runs.append(RunFolder(str(record["run_id"]), "pretrained", None, folder, record, _steps(folder)))
    finetune = root / "finetune"
    if finetune.is_dir():
        for task_folder in sorted(p for p in finetune.iterdir() if p.is_dir()):
            for folder in sorted(p for p in task_folder.iterdir() if p.is_dir()):
                record = _complete_record(folder)
                if record is not None:
                    records.check_run_folder_name(folder, record)
                    task = str(record.get("task") or task_folder.name)
                    runs.append(RunFolder(str(record["run_id"]), "finetuned", task, folder, record))
    return runs


def _mismatch(models: list[ModelResult], runs: list[RunFolder]) -> str | None:
    """What does not line up between the results' run ids and the run folders, or None."""
    if not runs:
        return None
    folder_ids = {r.run_id for r in runs}
    ours = [m.name for m in models if m.kind != "external" or RUN_ID.match(m.name)]
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


def load_family(root: str | os.PathLike, *, check_runs: bool = True) -> Family:
    """Read an experiment folder; with ``check_runs``, refuse results whose run ids do not match the run folders."""
    root = Path(root)
    if not root.exists():
        raise UsageError(NO_FOLDER.format(path=root))
    if not root.is_dir():
        raise UsageError(NOT_A_FOLDER.format(path=root))
    summary = read_summary(root)
    scores = _read_scores(root)
    models = _model_results(summary, scores, root / SUMMARY)
    analysis, has_analysis = _read_analysis(root)
    runs = discover_runs(root)
    if runs and not (root / SCORES).is_file():  # a family's scores, which `analyze` refuses to go without too
        raise UsageError(NO_RESULTS.format(path=root, name=SCORES))
    if check_runs:
        problem = _mismatch(models, runs)
        if problem:
            raise UsageError(RESULTS_DONT_MATCH_RUNS.format(summary=root / SUMMARY, root=root, detail=problem))
    manifest = None
    if (root / MANIFEST).is_file():
        try:
            manifest = read_json(root / MANIFEST)
        except UsageError as err:  # the manifest only names the family: the report can do without it
            log.warning("Ignoring %s", err)
    return Family(root=root, name=_family_name(root, summary, manifest if isinstance(manifest, dict) else None),
                  summary=summary, scores=scores, analysis=analysis, has_analysis=has_analysis, models=models,
                  runs=runs, manifest=manifest if isinstance(manifest, dict) else None)


def iter_values(family: Family, test: str, metric: str, *, kind: str | None = None) -> Iterator[tuple[ModelResult, float]]:
    """(model, value) for every model of ``kind`` (any when None) that has this metric."""
    for model in family.models:
        if kind is not None and model.kind != kind:
            continue
        value = model.value(test, metric)
        if value is not None:
            yield model, value
