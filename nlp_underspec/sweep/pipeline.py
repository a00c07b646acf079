"""``nlp-underspec run``: a recipe to a family of checkpoints, their stress-test results, analysis, report and cards.

Stages, each reading the previous stage's files (docs/design.md, data flow):

1. plan the grid and record it (``manifest.json``, the resolved ``recipe.yaml``);
2. training runs (pretraining, then fine-tuning as soon as its parent is complete) through an executor;
3. predictions: one triplet per stress test over the fine-tuned pairs (``predictions/<test>/``), plus the pretrained
   checkpoints scored with the ``mlm_probe`` resolver on the tests a masked LM takes
   (``pretrained/predictions/<test>/``);
4. ``scores.parquet`` + ``summary.json`` (iid dev metrics from the run records included);
5. ``analysis.json``, ``report/``, ``cards/`` (only for a complete family).

Every stage after training records the fingerprint of its inputs in ``stages.json``; a second ``run`` with nothing new
skips everything and says so. A killed ``run`` resumes: complete runs are skipped, partial ones resume from their saved
state, and stages without a current fingerprint are redone from their inputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from nlp_underspec.artifacts import PRETRAINED as PRETRAINED_DIR, RECIPE as RESOLVED_RECIPE, STAGES as STAGES_FILE, WORLD as WORLD_DIR
from nlp_underspec import results, triplet
from nlp_underspec.config import Recipe, task_sources, to_plain
from nlp_underspec.errors import UsageError
from nlp_underspec.evaluation import PREDICTIONS_DIR, ModelRef, PredictionRequest, predict_tests, score_triplets
from nlp_underspec.io import atomic_write_json, atomic_write_text, check_output_path, read_json_object
from nlp_underspec.records import read_run_record
from nlp_underspec.stress import PredictOptions, available_stress_tests, get_stress_test
from nlp_underspec.sweep import scheduler
from nlp_underspec.sweep.executors import make_executor
from nlp_underspec.sweep.plan import (Plan, RunSpec, build_plan, read_manifest, recipe_hash,
                                      task_for_test, write_manifest)
from nlp_underspec.sweep.state import SweepLock, changed_keys, check_run_folders, check_unchanged, run_state

logger = logging.getLogger(__name__)

STAGES_HINT = "Delete it: it only records which results are current, and the next `nlp-underspec run` redoes them."
IID_METRICS = {"stsb": ("dev_pearson", "dev_spearman", "dev_loss"), "coref": ("dev_accuracy", "dev_loss")}

NO_PAIRS = "the recipe fine-tunes nothing (no finetune.tasks): only the pretrained checkpoints were scored"
OUT_IS_OTHER_EXPERIMENT = ("{out} holds experiment '{other}', not '{name}'. Choose another --out, or pass --force-rerun "
                           "to redo it with this recipe.")


@dataclass
class SweepResult:
    plan: Plan
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    stages_done: list[str] = field(default_factory=list)
    stages_skipped: dict[str, str] = field(default_factory=dict)  # stage -> why

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


# ------------------------------------------------------------------------------------------------------- fingerprints


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_stages(exp_dir: Path) -> dict[str, str]:
    path = exp_dir / STAGES_FILE
    return read_json_object(path, hint=STAGES_HINT) if path.is_file() else {}


def _mark_stage(exp_dir: Path, stage: str, fingerprint: str) -> None:
    stages = _read_stages(exp_dir)
    stages[stage] = fingerprint
    atomic_write_json(exp_dir / STAGES_FILE, stages)


def _runs_fingerprint(exp_dir: Path, runs: list[RunSpec]) -> list[Any]:
    """Identity of the finished checkpoints a stage reads: config hash and finish time of each run record."""
    out = []
    for run in runs:
        record = read_run_record(exp_dir / run.folder) or {}
        out.append([run.key, record.get("config_hash"), record.get("finished")])
    return out


# -------------------------------------------------------------------------------------------------------- preparation


def prepare(exp_dir: Path, recipe: Recipe, *, force_rerun: bool) -> Plan:
    """Plan, check finished runs against the recipe, write the resolved recipe and the manifest."""
    plan = build_plan(recipe)
    manifest = read_manifest(exp_dir)
    if manifest is not None and manifest["name"] != recipe.name and not force_rerun:
        raise UsageError(OUT_IS_OTHER_EXPERIMENT.format(out=exp_dir, other=manifest["name"], name=recipe.name))
    for run in plan.runs:
        state = run_state(exp_dir, run)
        changed = changed_keys(exp_dir, run) if state in ("complete", "partial", "failed") else []
        if not changed:
            continue
        # A failed run holds nothing worth protecting, and fixing the recipe is how a user repairs one: redo it.
        if state != "failed" and not force_rerun:
            check_unchanged(exp_dir, run)
        logger.info("%s: config changed (%s); redoing it", run.key, ", ".join(changed))
        shutil.rmtree(exp_dir / run.folder)
    exp_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(exp_dir / RESOLVED_RECIPE,
                      "# Resolved recipe of this experiment (written by `nlp-underspec run`; every run reads it).\n"
                      + yaml.safe_dump(to_plain(recipe), sort_keys=False))
    return plan


def check_data_sources(recipe: Recipe, plan: Plan) -> None:
    """Read every data source the plan will read that is not the synthetic world (which is generated, not read): the
    corpus, each task's train and dev splits, each stress test's set. Each loader's own message (file and line) is
    raised here, in seconds, instead of by every run or after the whole grid trained."""
    from nlp_underspec.data.sources import SYNTHETIC, load_corpus_texts
    from nlp_underspec.training.task_data import check_task_data

    if plan.of_kind("pretrain") and recipe.pretrain is not None and recipe.pretrain.corpus != SYNTHETIC:
        load_corpus_texts(recipe.pretrain, recipe.world)
    for task in sorted({run.task for run in plan.of_kind("finetune")}):
        settings = recipe.finetune.tasks[task]
        if task_sources(settings) != (SYNTHETIC,) or settings.dev_data is not None:
            check_task_data(recipe, task)
    for test, source in _recipe_sources(recipe).items():
        if test in plan.tests and source not in (None, SYNTHETIC):
            get_stress_test(test).build_items(source=source, split=_split(recipe, test))


def _recipe_sources(recipe: Recipe) -> dict[str, str | None]:
    """Each registered stress test's data as the recipe names it: the key ``evaluate.<data_option>`` ("synthetic": the
    world's own set; None: the test's default source). A test without a data option reads the world's own set when
    the corpus is the synthetic world (the calibration target is then the world's planted table), else its default."""
    corpus = recipe.pretrain.corpus if recipe.pretrain is not None else None
    sources = {}
    for test in available_stress_tests():
        option = get_stress_test(test).data_option
        if option is not None:
            sources[test] = getattr(recipe.evaluate, option, None)
        else:
            sources[test] = "synthetic" if corpus == "synthetic" else None
    return sources


def _split(recipe: Recipe, test: str) -> str | None:
    """The split of the test's data the recipe names (``evaluate.<data_option>_split``), if the recipe has that key."""
    option = get_stress_test(test).data_option
    return getattr(recipe.evaluate, f"{option}_split", None) if option is not None else None


def _stress_sources(exp_dir: Path, recipe: Recipe) -> dict[str, str | None]:
    """Where each stress test reads its data: the recipe's path, or the synthetic world's own sets written here (keyed
    by the test's data option, or its name without one; a test the world has no set for reads its default)."""
    sources = _recipe_sources(recipe)
    if "synthetic" in sources.values():
        from nlp_underspec.stress.synthetic_sets import materialize_stress_sets

        paths = materialize_stress_sets(recipe.world, exp_dir / WORLD_DIR)
        sources = {test: _world_set(paths, test) if value == "synthetic" else value for test, value in sources.items()}
    return sources


def _world_set(paths: dict[str, Path], test: str) -> str | None:
    key = get_stress_test(test).data_option or test
    return str(paths[key]) if key in paths else None


def pretrained_tests(tests: tuple[str, ...]) -> list[str]:
    """What each pretrained checkpoint is scored on: the recipe's tests that a masked LM takes before fine-tuning
    (``runs_on_pretrained``), then those that pair with no fine-tuning task and have data of their own (calibration:
    only a pretrained checkpoint holds the prior it measures), whatever the recipe's tests."""
    takes = [test for test in available_stress_tests() if get_stress_test(test).runs_on_pretrained]
    always = [test for test in takes if get_stress_test(test).pairs_with_task is None
              and get_stress_test(test).default_source is not None]
    return list(dict.fromkeys([*(test for test in tests if test in takes), *always]))


def bootstrap_seed(recipe: Recipe) -> int:
    """The seed of every bootstrap draw of scoring and analysis: ``evaluate.bootstrap_seed``, else the world's seed
    (which drew every experiment's intervals before the key existed)."""
    chosen = recipe.evaluate.bootstrap_seed
    return recipe.world.seed if chosen is None else chosen


# ------------------------------------------------------------------------------------------------------------ stages


def _pair_runs(plan: Plan, pair: dict[str, Any]) -> dict[str, RunSpec]:
    """The fine-tuning runs of one (pretraining seed, fine-tuning seed) pair, by task."""
    return {run.task: run for run in plan.of_kind("finetune") if run.run_id == pair["model"]}


def _complete_pairs(exp_dir: Path, plan: Plan) -> tuple[list[dict[str, Any]], list[str]]:
    done, missing = [], []
    for pair in plan.pairs:
        runs = _pair_runs(plan, pair)
        if all(run_state(exp_dir, run) == "complete" for run in runs.values()):
            done.append(pair)
        else:
            missing.append(pair["model"])
    return done, missing


def _scoring_workers(recipe: Recipe) -> int:
    """Scoring forks ``sweep.jobs`` workers on this machine with the local executor; a Ray driver does not fork
    (Ray's threads would be copied mid-flight), so it scores in one process."""
    return recipe.sweep.jobs if recipe.sweep.executor == "local" else 1


def _predict(requests, recipe: Recipe):
    return predict_tests(requests, workers=_scoring_workers(recipe), threads=recipe.threads)


def _predict_family(exp_dir: Path, plan: Plan, pairs: list[dict[str, Any]], sources: dict[str, str | None]):
    recipe = plan.recipe
    options = PredictOptions(batch_size=recipe.evaluate.batch_size, progress=False)
    requests = []
    for test in plan.tests:
        task = task_for_test(test)
        models = []
        for pair in pairs:
            runs = _pair_runs(plan, pair)
            checkpoint = runs[task].folder if task in runs else next(iter(runs.values())).folder
            models.append(ModelRef(pair["model"], str(exp_dir / checkpoint), pair["pretrain_seed"],
                                   pair["finetune_seed"], kind="finetuned"))
        requests.append(PredictionRequest(test, tuple(models), sources.get(test), _split(recipe, test), options))
    return _predict(requests, recipe)


def iid_metric_names(task: str, metrics: dict[str, Any]) -> list[str]:
    """The iid metrics a fine-tuning run recorded: the task's pooled dev metrics, then the same per dev source
    (``dev_accuracy_<name>`` for each name of ``dev_sources``), each an iid metric of the same network.

    >>> iid_metric_names("coref", {"dev_accuracy": 0.6, "dev_sources": ["dpr_test", "wsc273"]})
    ['dev_accuracy', 'dev_loss', 'dev_accuracy_dpr_test', 'dev_loss_dpr_test', 'dev_accuracy_wsc273', 'dev_loss_wsc273']
    """
    names = list(IID_METRICS.get(task, ()))
    sources = metrics.get("dev_sources")
    if isinstance(sources, list):
        names += [f"{metric}_{source}" for source in sources if isinstance(source, str)
                  for metric in IID_METRICS.get(task, ())]
    return names


def _iid_rows(exp_dir: Path, plan: Plan, pairs: list[dict[str, Any]]) -> tuple[list[dict], dict[str, dict]]:
    """iid dev metrics from the fine-tuning run records: tidy rows and summary ``iid`` blocks."""
    rows, extras = [], {}
    for pair in pairs:
        for task, run in _pair_runs(plan, pair).items():
            metrics = (read_run_record(exp_dir / run.folder) or {}).get("metrics", {})
            for metric in iid_metric_names(task, metrics):
                if metric in metrics and metrics[metric] is not None:
                    rows.append({"model": pair["model"], "pretrain_seed": pair["pretrain_seed"],
                                 "finetune_seed": pair["finetune_seed"], "test": task, "metric": metric,
                                 "value": float(metrics[metric]), "occupation": None})
                    extras.setdefault(pair["model"], {"iid": {}})["iid"].setdefault(task, {})[metric] = float(metrics[metric])
    return rows, extras


def _write_scored(folder: Path, predictions, *, recipe: Recipe, config_hash: str, extra_rows=(), model_extras=None,
                  extra_models=()) -> list[dict[str, Any]]:
    scores, summary_models = score_triplets(predictions, n_boot=recipe.evaluate.n_boot, seed=bootstrap_seed(recipe))
    if extra_rows:
        scores = pd.concat([scores, results.scores_frame(extra_rows)], ignore_index=True)
    summary_models = [dict(entry, **(model_extras or {}).get(entry["model"], {})) for entry in summary_models]
    for test, preds in predictions.items():
        triplet.write_predictions(folder / PREDICTIONS_DIR / test, preds)
    results.write_scores(folder / results.SCORES, scores)
    results.write_summary(folder / results.SUMMARY, models=summary_models + list(extra_models), config_hash=config_hash,
                          n_boot=recipe.evaluate.n_boot, bootstrap_seed=bootstrap_seed(recipe), experiment=recipe.name)
    return summary_models


def _pretrained_entries(exp_dir: Path, plan: Plan, sources: dict[str, str | None], config_hash: str) -> list[dict]:
    """Score each complete pretrained checkpoint with no fine-tuning in between (so pretraining seeds are compared
    directly) on :func:`pretrained_tests`, with the mlm_probe resolver. Results go to ``pretrained/``; summary
    entries are marked as such."""
    recipe = plan.recipe
    runs = [run for run in plan.of_kind("pretrain") if run_state(exp_dir, run) == "complete"]
    tests = pretrained_tests(plan.tests)
    if not runs or not recipe.evaluate.score_pretrained:
        return []
    options = PredictOptions(batch_size=recipe.evaluate.batch_size, resolver="mlm_probe", progress=False)
    models = tuple(ModelRef(run.run_id, str(exp_dir / run.folder), run.seeds["pretrain_seed"], None,
                            kind="pretrained") for run in runs)
    predictions = _predict([PredictionRequest(test, models, sources.get(test), None, options) for test in tests],
                           recipe)
    entries = _write_scored(exp_dir / PRETRAINED_DIR, predictions, recipe=recipe, config_hash=config_hash)
    return [dict(entry, kind="pretrained") for entry in entries]


def _analysis_stage(exp_dir: Path, recipe: Recipe) -> None:
    from nlp_underspec.analysis import analyze

    analyze(exp_dir, nboot=recipe.evaluate.n_boot, seed=bootstrap_seed(recipe))


def _report_stage(exp_dir: Path, recipe: Recipe) -> None:
    from nlp_underspec.report import build_report

    build_report(exp_dir, overwrite=True)


def _cards_stage(exp_dir: Path, recipe: Recipe) -> None:
    from nlp_underspec.cards import write_family_cards
    from nlp_underspec.experiment.family import load_family

    write_family_cards(load_family(exp_dir), overwrite=True)


# What each results stage writes into the experiment folder (its presence says the stage's output still exists).
STAGE_OUTPUTS = {"scores": results.SUMMARY, "analysis": "analysis.json", "report": "report/index.html", "cards": "cards"}

# Stages after scoring, in order; each reads only the files earlier stages wrote.
LATER_STAGES: tuple[tuple[str, Callable[[Path, Recipe], Any]], ...] = (
    ("analysis", _analysis_stage), ("report", _report_stage), ("cards", _cards_stage))


# ----------------------------------------------------------------------------------------------------------- the sweep


def run_sweep(recipe: Recipe, out: str | Path, *, force_rerun: bool = False, log=print) -> SweepResult:
    exp_dir = Path(out)
    check_output_path(exp_dir)  # a file, or a folder that cannot be written: say so before any run starts
    plan = build_plan(recipe)
    check_run_folders(exp_dir, plan.runs)  # a linked run folder would take another folder's files
    check_data_sources(recipe, plan)  # and a wrong data path, before --out is created
    exp_dir.mkdir(parents=True, exist_ok=True)
    with SweepLock(exp_dir):
        plan = prepare(exp_dir, recipe, force_rerun=force_rerun)
        result = SweepResult(plan=plan)
        states = {run.key: run_state(exp_dir, run) for run in plan.runs}
        write_manifest(exp_dir, plan, statuses=states)
        todo = [run for run in plan.runs if states[run.key] != "complete"]
        complete = {key for key, state in states.items() if state == "complete"}
        if todo:
            resumed = sum(states[run.key] in ("partial", "failed") for run in todo)
            log(f"{len(plan.runs)} runs planned: {len(complete)} complete, {len(todo)} to do"
                + (f" ({resumed} resumed or retried)" if resumed else "")
                + f"; executor {recipe.sweep.executor}, {recipe.sweep.jobs} at a time")
            executor = make_executor(recipe.sweep.executor, ray_address=recipe.sweep.ray_address, jobs=recipe.sweep.jobs)
            try:
                outcome = scheduler.execute(exp_dir, todo, recipe, executor, jobs=recipe.sweep.jobs,
                                            already_complete=complete)
            finally:
                executor.close()
            result.ran, result.failed, result.blocked = outcome.completed, outcome.failed, outcome.blocked
            write_manifest(exp_dir, plan, statuses={run.key: run_state(exp_dir, run) for run in plan.runs})
        _results_stages(exp_dir, plan, result, log=log)
        if not todo and not result.stages_done:
            log(f"Nothing to do: all {len(plan.runs)} runs are complete and the results in {exp_dir} are up to date.")
    return result


def _results_stages(exp_dir: Path, plan: Plan, result: SweepResult, *, log) -> None:
    recipe = plan.recipe
    stages = _read_stages(exp_dir)
    pairs, missing = _complete_pairs(exp_dir, plan)
    if missing:
        log(f"Not scored yet (training incomplete): {', '.join(missing)}")
    pretrained = [run for run in plan.of_kind("pretrain") if run_state(exp_dir, run) == "complete"]
    if not pairs and not pretrained:
        result.stages_skipped["scores"] = "no complete models yet"
        return
    config_hash = recipe_hash(recipe)
    runs_read = [run for pair in pairs for run in _pair_runs(plan, pair).values()] + pretrained
    fingerprint = _fingerprint(config_hash, _runs_fingerprint(exp_dir, runs_read))
    if stages.get("scores") != fingerprint or "scores" in _stale_outputs(exp_dir):
        started = time.monotonic()
        sources = _stress_sources(exp_dir, recipe)
        extra_models = _pretrained_entries(exp_dir, plan, sources, config_hash)
        if pairs:
            predictions = _predict_family(exp_dir, plan, pairs, sources)
            rows, extras = _iid_rows(exp_dir, plan, pairs)
            _write_scored(exp_dir, predictions, recipe=recipe, config_hash=config_hash, extra_rows=rows,
                          model_extras=extras, extra_models=extra_models)
        _mark_stage(exp_dir, "scores", fingerprint)
        result.stages_done.append("scores")
        written = exp_dir / results.SUMMARY if pairs else exp_dir / PRETRAINED_DIR / results.SUMMARY
        log(f"Scored {len(pairs)} model pair(s) and {len(extra_models)} pretrained checkpoint(s) in "
            f"{time.monotonic() - started:.0f}s: {written}")
    if missing or not pairs:  # analysis, report and cards describe a whole family, not the part that trained
        why = (f"training incomplete ({len(missing)} of {len(plan.pairs)} pairs missing)" if missing else NO_PAIRS)
        for stage, _ in LATER_STAGES:
            result.stages_skipped[stage] = why
        return
    for stage, function in LATER_STAGES:
        if stages.get(stage) == fingerprint and stage not in _stale_outputs(exp_dir):
            continue
        function(exp_dir, recipe)
        _mark_stage(exp_dir, stage, fingerprint)
        result.stages_done.append(stage)
        log(f"Wrote {stage}: {exp_dir / STAGE_OUTPUTS[stage]}")


def _stale_outputs(exp_dir: Path) -> set[str]:
    """Stages whose output is gone although stages.json says done (a user deleted report/, say)."""
    return {stage for stage, path in STAGE_OUTPUTS.items() if not (exp_dir / path).exists()}
