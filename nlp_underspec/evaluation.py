"""Orchestration of stress tests over a family of models: predict, score, write one results folder.

Used by ``nlp-underspec evaluate`` / ``score`` and by the sweep. The steps are separate so each caller takes what it
needs: :func:`predict_test` (models -> one predictions triplet per test; each model loaded once and freed after),
:func:`score_triplets` (triplets only -> tidy scores + summary entries) and :func:`write_results` (triplets, scores.parquet
and summary.json into a folder, all or nothing).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from nlp_underspec.artifacts import PREDICTIONS as PREDICTIONS_DIR
from nlp_underspec import results, triplet
from nlp_underspec.errors import UsageError
from nlp_underspec.formatting import BELOW_FLOOR_CELL
from nlp_underspec.io import OutputKind, check_output_folder, check_tsv_safe_path, staged_output
from nlp_underspec.stress import PredictOptions, get_stress_test

logger = logging.getLogger(__name__)
# Below this many resamples the 2.5% and 97.5% percentiles rest on a handful of draws (at 1 they are one draw, which
# need not even contain the estimate): the intervals are written, but called what they are.
FEW_BOOT = 200
FEW_BOOT_WARNING = ("intervals from {n_boot} bootstrap resamples are not 95% intervals (their ends rest on a handful "
                    "of draws); use at least {minimum} (--n-boot, default 1000) for intervals to report.")

DUPLICATE_MODEL_NAME = ("Two models are both named '{name}' ({first} and {second}). Give them different folder names, "
                        "or evaluate them in separate --out folders.")
DUPLICATE_RUN_ID = ("Two models are both run '{name}' by their run.json ({first} and {second}): runs of different "
                    "experiments. Evaluate them in separate --out folders.")
NO_DATA = "Stress test '{test}' needs data: pass --{option} PATH (see `nlp-underspec evaluate --help` for the layouts)."
NO_PREDICTIONS = ("{path} holds no predictions triplet: expected run_info.tsv, label_info.tsv and preds.npy in it, in "
                  "its {sub}/<test>/ folders, or in its <test>/ folders.")
MODEL_NOT_FINITE = ("Model '{model}' gave {count} NaN/inf prediction(s) on {test} (first: item '{item}'). Check the "
                    "checkpoint's weights (a diverged run?); nothing was written.")
FOLDER_NOT_A_TEST = ("Predictions folder {path} is not named after a stress test (a triplet's folder name is the "
                     "test it holds): {unknown} Rename the folder, or move it out of {parent}.")
BELOW_FLOOR_LEGEND = ("(below noise floor): the model's gaps are under the test's noise floor, so this correlation is "
                      "one of float leftovers, not a finding; read the magnitude beside it")
FLAG_CELLS = {True: "yes", False: "no"}
NARROW_CI = 0.1  # an interval inside (-0.1, 0.1) gets 3 decimals: 2 would print a calibration slope's as [+0.00, +0.01]


@dataclass(frozen=True)
class ModelRef:
    """A model to evaluate: its name in the outputs, where to load it from, and its seeds (None when unknown)."""

    name: str
    checkpoint: str
    pretrain_seed: int | None = None
    finetune_seed: int | None = None
    kind: str = "external"  # pretrained | finetuned | external


def default_model_name(checkpoint: str) -> str:
    """A local folder's own name (``runs/x/pretrain/p03`` -> ``p03``), or the Hub id as given.

    >>> default_model_name("google/multiberts-seed_3/")
    'google/multiberts-seed_3'
    """
    path = Path(checkpoint).expanduser()
    return path.resolve().name if path.is_dir() else checkpoint.rstrip("/")


def model_refs(checkpoints: Sequence[str], *, seed_pattern: str | None = None) -> list[ModelRef]:
    """ModelRefs for user-given checkpoints: checked, named (run id when the toolkit trained it), seeds resolved."""
    from nlp_underspec import models

    pattern = models.compile_seed_pattern(seed_pattern)
    refs, seen = [], {}
    for checkpoint in checkpoints:
        # The model's name and path go into run_info.tsv: a newline there fails only when the results are written.
        check_tsv_safe_path(checkpoint, what="Model")
        checked = models.check_checkpoint(checkpoint)
        check_tsv_safe_path(checked, what="Model")
        origin = models.checkpoint_origin(checked, seed_pattern=pattern, name=checkpoint.rstrip("/"))
        name = origin.run_id or default_model_name(checked)
        if name in seen:
            template = DUPLICATE_RUN_ID if origin.run_id else DUPLICATE_MODEL_NAME
            raise UsageError(template.format(name=name, first=seen[name], second=checkpoint))
        seen[name] = checkpoint
        refs.append(ModelRef(name, checked, origin.pretrain_seed, origin.finetune_seed, origin.kind))
        logger.info("%s: %s (pretrain_seed=%s, finetune_seed=%s%s)", name, checked, origin.pretrain_seed,
                    origin.finetune_seed, f", from {origin.seeds_from}" if origin.seeds_from else "")
    return refs


def resolve_occupation_stats(path: str | os.PathLike | None = None, *,
                             sources: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, str]:
    """The statistics to correlate with, and where they came from: ``path`` if given, else the first that a test's
    data ships (:meth:`StressTest.occupation_stats_file` of ``sources``, {test: its data}; validated), else the
    shipped table."""
    from nlp_underspec.data.occupations import load_occupation_stats

    if path is not None:
        return load_occupation_stats(path), str(path)
    for test, source in (sources or {}).items():
        found = get_stress_test(test).occupation_stats_file(source)
        if found is not None:
            return load_occupation_stats(found), str(found)
    return load_occupation_stats(), "shipped"


# -------------------------------------------------------------------------------------------------------- predict
def check_models(tests: Sequence[str], models: Sequence[ModelRef], *, options: PredictOptions | None = None) -> None:
    """Every (test, model) can run (heads present, scorer/resolver known, weights stored as floats, a tokenizer that
    fits the model), checked from configs, tokenizers and file headers before any model loads."""
    from nlp_underspec.models import check_weight_dtypes, load_tokenizer

    options = options or PredictOptions()
    for model in models:
        check_weight_dtypes(model.checkpoint)
        load_tokenizer(model.checkpoint, trust_remote_code=options.trust_remote_code)  # it fits the model (every test)
    for test in tests:
        stress_test = get_stress_test(test)
        for model in models:
            stress_test.check_model(checkpoint=model.checkpoint, options=options)


def predict_test(test: str, models: Sequence[ModelRef], *, source: str | None = None, split: str | None = None,
                 options: PredictOptions | None = None, label_info: pd.DataFrame | None = None) -> triplet.Predictions:
    """One predictions triplet: items built from ``source`` (or given as ``label_info``), one row per model."""
    stress_test = get_stress_test(test)
    options = options or PredictOptions()
    if label_info is None:
        source = source if source is not None else stress_test.default_source
        if source is None:
            raise UsageError(NO_DATA.format(test=test, option=stress_test.data_option or "data"))
        label_info = stress_test.build_items(source=source, split=split)
    rows, preds = [], []
    for model in models:
        logger.info("%s: predicting with %s", test, model.name)
        prediction = stress_test.predict(checkpoint=model.checkpoint, label_info=label_info, options=options)
        values = np.asarray(prediction.preds, dtype=np.float64).reshape(-1)  # (n_items,)
        _check_finite(values, model=model.name, test=test, label_info=label_info)
        preds.append(values)
        rows.append({"model": model.name, "pretrain_seed": model.pretrain_seed, "finetune_seed": model.finetune_seed,
                     "checkpoint": model.checkpoint, "kind": model.kind,
                     **{key: prediction.info.get(key) for key in stress_test.run_info_columns}})
    run_info = pd.DataFrame(rows)
    for column in triplet.SEED_COLUMNS:
        run_info[column] = pd.array(run_info[column].tolist(), dtype="Int64")
    matrix = np.stack(preds) if preds else np.empty((0, len(label_info)))  # (n_models, n_items)
    return triplet.Predictions(run_info, label_info, matrix)


@dataclass(frozen=True)
class PredictionRequest:
    """One test over some models: what :func:`predict_tests` runs (items built once, in the calling process)."""

    test: str
    models: tuple[ModelRef, ...]
    source: str | None = None
    split: str | None = None
    options: PredictOptions | None = None


def _predict_one_model(test: str, model: ModelRef, label_info: pd.DataFrame, options: PredictOptions,
                       threads: int | None) -> triplet.Predictions:
    from nlp_underspec.seeding import pin_threads

    if threads:
        pin_threads(threads)
    return predict_test(test, [model], label_info=label_info, options=options)


def predict_tests(requests: Sequence[PredictionRequest], *, workers: int = 1,
                  threads: int | None = None) -> dict[str, triplet.Predictions]:
    """One triplet per request's test, the models spread over ``workers`` forked processes (one model each at a time).

    Items are built here first, so a data error surfaces before any model loads and every worker scores the same
    items. Each worker pins torch to ``threads`` (and so does a single-process run), so the numbers do not depend on
    how many workers there were. With one worker, or off Linux (no fork), everything runs in this process; the
    caller must not have started threads that a fork would copy half-done (the sweep calls this after its executor
    has shut down).
    """
    from nlp_underspec.seeding import pin_threads

    items = {}
    for request in requests:
        stress_test = get_stress_test(request.test)
        source = request.source if request.source is not None else stress_test.default_source
        if source is None:
            raise UsageError(NO_DATA.format(test=request.test, option=stress_test.data_option or "data"))
        items[request.test] = stress_test.build_items(source=source, split=request.split)
    tasks = [(request.test, model, items[request.test], request.options or PredictOptions(), threads)
             for request in requests for model in request.models]
    if workers <= 1 or len(tasks) <= 1 or not hasattr(os, "fork"):
        if threads:
            pin_threads(threads)
        parts = [_predict_one_model(*task) for task in tasks]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_predict_one_model, *zip(*tasks)))
    by_test: dict[str, list[triplet.Predictions]] = {}
    for (test, *_rest), part in zip(tasks, parts):
        by_test.setdefault(test, []).append(part)
    return {test: triplet.concat_models(found, test=test) for test, found in by_test.items()}


def _check_finite(values: np.ndarray, *, model: str, test: str, label_info: pd.DataFrame) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        item = label_info["item_id"].iloc[int(bad.nonzero()[0][0])]
        raise UsageError(MODEL_NOT_FINITE.format(model=model, count=int(bad.sum()), test=test, item=item))


# -------------------------------------------------------------------------------------------------------- score
def _seed(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def score_triplets(predictions: Mapping[str, triplet.Predictions], *, occupation_stats: pd.DataFrame | None = None,
                   n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Tidy scores (contract 4) and summary model entries (contract 5) from triplets alone.

    A model that appears in several tests (by name) gets one summary entry with one block per test.
    """
    rows: list[dict[str, Any]] = []
    entries: dict[str, dict[str, Any]] = {}
    if n_boot < FEW_BOOT:
        logger.warning(FEW_BOOT_WARNING.format(n_boot=n_boot, minimum=FEW_BOOT))
    for test, preds in predictions.items():
        stress_test = get_stress_test(test)
        where = str(Path(preds.source) / triplet.LABEL_INFO) if preds.source != "<memory>" else f"{test} label_info"
        label_info = stress_test.check_label_info(preds.label_info, where=where)
        stress_test.check_prediction_range(
            preds.preds, path=str(Path(preds.source) / triplet.PREDS) if preds.source != "<memory>" else f"{test} preds",
            models=preds.run_info["model"].astype(str).tolist(), items=preds.label_info["item_id"].astype(str).tolist())
        for index, info in enumerate(preds.run_info.to_dict("records")):
            result = stress_test.score(preds=preds.preds[index], label_info=label_info,
                                       occupation_stats=occupation_stats, n_boot=n_boot, seed=seed, model_info=info,
                                       where=where)
            key = {"model": str(info["model"]), "pretrain_seed": _seed(info.get("pretrain_seed")),
                   "finetune_seed": _seed(info.get("finetune_seed"))}
            rows += [{**key, "test": test, "metric": metric, "value": value, "occupation": None}
                     for metric, value in stress_test.tidy_rows(result.summary)]
            rows += [{**key, "test": test, "metric": stress_test.per_occupation_metric, "value": float(value),
                      "occupation": str(occupation)} for occupation, value in result.per_occupation.items()]
            entry = entries.setdefault(key["model"], {**key, "tests": {}, "_checkpoints": {}})
            if _present(info.get("kind")):
                entry.setdefault("kind", info["kind"])
            if _present(info.get("checkpoint")):
                entry["_checkpoints"][test] = info["checkpoint"]
            entry["tests"][test] = result.summary
    scores = results.scores_frame(rows)
    return scores, [_ordered_entry(entry) for entry in entries.values()]


def _present(value: Any) -> bool:
    """A run_info cell that holds something (not None, NA, NaN or empty)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return False
    return value != ""


def _ordered_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """Contract-5 key order; one ``checkpoint`` when all tests used the same one, else ``checkpoints`` per test
    (a fine-tuned pair p03-f01 scores each test with the model of the task the test pairs with)."""
    checkpoints = entry.pop("_checkpoints")
    if len(set(checkpoints.values())) == 1:
        entry["checkpoint"] = next(iter(checkpoints.values()))
    elif checkpoints:
        entry["checkpoints"] = checkpoints
    order = ["model", "pretrain_seed", "finetune_seed", "kind", "checkpoint", "checkpoints", "tests"]
    return {key: entry[key] for key in order if key in entry} | {k: v for k, v in entry.items() if k not in order}


# -------------------------------------------------------------------------------------------------------- write
def same_run(config_hash: str | None):
    """``accept_existing`` for :func:`~nlp_underspec.io.staged_output`: the folder holds results of this same config."""

    def accept(out: Path) -> bool:
        summary = out / results.SUMMARY
        if config_hash is None or not summary.is_file():
            return False
        try:
            return results.read_summary(summary, check_metrics=False).get("config_hash") == config_hash
        except UsageError:  # an unreadable summary is not this run's: refused as "holds a different run"
            return False

    return accept


def _holds_results(folder: Path) -> bool:
    """A ``summary.json`` of the shape :func:`results.write_summary` writes."""
    try:
        summary = results.read_summary(folder / results.SUMMARY, check_metrics=False)
    except (UsageError, OSError, ValueError):
        return False
    return isinstance(summary, dict) and isinstance(summary.get("models"), list) and "config_hash" in summary


# What an evaluate/score folder holds, with what analyze, report and card --model add to it.
RESULTS_OUTPUT = OutputKind("results folder", _holds_results,
                            frozenset({results.SUMMARY, results.SCORES, PREDICTIONS_DIR, "analysis.json", "report",
                                       "cards"}))


def check_out(out: str | os.PathLike, *, config_hash: str | None, overwrite: bool = False, inputs=()) -> None:
    """Fail before any model runs when ``out`` may not take these results (the check :func:`write_results` makes
    again): another run without ``overwrite``, or, even with it, a folder not ours, one of ``inputs`` (the command's
    checkpoints and data), or a folder a running sweep holds."""
    check_output_folder(out, overwrite=overwrite, accept_existing=same_run(config_hash), kind=RESULTS_OUTPUT,
                        inputs=inputs)


def write_results(out: str | os.PathLike, predictions: Mapping[str, triplet.Predictions], *,
                  scores: pd.DataFrame | None = None, summary_models: list[dict[str, Any]] | None = None,
                  occupation_stats: pd.DataFrame | None = None, n_boot: int = 1000, seed: int = 0,
                  extra_scores: pd.DataFrame | None = None, model_extras: Mapping[str, Mapping[str, Any]] | None = None,
                  extra_summary: Mapping[str, Any] | None = None, config_hash: str | None = None,
                  overwrite: bool = False, inputs=()) -> Path:
    """Write ``predictions/<test>/`` triplets, ``scores.parquet`` and ``summary.json`` into ``out``, all or nothing.

    Scores are computed here unless given. ``extra_scores`` (tidy rows, e.g. iid dev metrics) are appended;
    ``model_extras[name]`` is merged into that model's summary entry (e.g. ``{"iid": {...}}``).
    """
    if scores is None or summary_models is None:
        scores, summary_models = score_triplets(predictions, occupation_stats=occupation_stats, n_boot=n_boot,
                                                seed=seed)
    if extra_scores is not None and len(extra_scores):
        scores = pd.concat([scores, results.scores_frame(extra_scores.to_dict("records"))], ignore_index=True)
    summary_models = [dict(entry, **(model_extras or {}).get(entry["model"], {})) for entry in summary_models]
    with staged_output(out, overwrite=overwrite, accept_existing=same_run(config_hash), kind=RESULTS_OUTPUT,
                       inputs=inputs) as stage:
        for test, preds in predictions.items():
            triplet.write_predictions(stage / PREDICTIONS_DIR / test, preds)
        results.write_scores(stage / results.SCORES, scores)
        results.write_summary(stage / results.SUMMARY, models=summary_models, config_hash=config_hash, n_boot=n_boot,
                              bootstrap_seed=seed, tests=list(predictions), **(extra_summary or {}))
    return Path(out)


# -------------------------------------------------------------------------------------------------------- read
def find_triplets(folder: str | os.PathLike, *, test: str | None = None) -> dict[str, triplet.Predictions]:
    """Triplets under ``folder``: a triplet itself (test from ``test`` or the folder name), a results folder with
    ``predictions/<test>/``, or a folder of ``<test>/`` triplets. Test names must be registered."""
    folder = Path(folder)
    triplet.check_predictions_folder(folder)
    if (folder / triplet.RUN_INFO).is_file() or (folder / triplet.PREDS).is_file():
        name = test or folder.name
        _check_test_folder(folder, name, named=test is not None)
        return {name: triplet.read_predictions(folder)}
    base = folder / PREDICTIONS_DIR if (folder / PREDICTIONS_DIR).is_dir() else folder
    found = {}
    for sub in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if test is not None and sub.name != test:
            continue
        _check_test_folder(sub, sub.name)
        found[sub.name] = triplet.read_predictions(sub)
    if not found:
        raise UsageError(NO_PREDICTIONS.format(path=folder, sub=PREDICTIONS_DIR))
    return found


def _check_test_folder(folder: Path, name: str, *, named: bool = False) -> None:
    """``name`` is a registered stress test; one taken from a folder's name is refused naming that folder."""
    try:
        get_stress_test(name)
    except UsageError as err:
        if named:
            raise
        raise UsageError(FOLDER_NOT_A_TEST.format(path=folder, unknown=err, parent=folder.parent)) from None


# -------------------------------------------------------------------------------------------------------- table
def results_table(summary_models: Iterable[Mapping[str, Any]], tests: Sequence[str]) -> str:
    """A plain-text table of each test's headline metrics with ↑ / ↓ / →0 (closer to 0 is less biased); a correlation
    of a model below the test's noise floor is marked, not shown as a finding (docs/design.md, contract 9)."""
    columns: list[tuple[str, str, str]] = []  # (test, metric, header)
    for test in tests:
        stress_test = get_stress_test(test)
        for metric in stress_test.headline:
            columns.append((test, metric, f"{test}:{metric} {stress_test.metrics[metric].arrow}"))
    header = ["model", *(c[2] for c in columns)]
    body = []
    for entry in summary_models:
        row = [str(entry["model"])]
        for test, metric, _ in columns:
            block = entry.get("tests", {}).get(test, {})
            stress_test = get_stress_test(test)
            row.append(_cell(block, metric, first=metric == stress_test.headline[0], signal=stress_test.signal_metrics))
        body.append(row)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip() for r in [header, *body]]
    legend = "↑ higher is better, ↓ lower is better, →0 closer to 0 is less biased; [95% bootstrap CI over occupations]"
    if any(BELOW_FLOOR_CELL in cell for row in body for cell in row):
        legend += "\n" + BELOW_FLOOR_LEGEND
    legend += "".join(f"\n{get_stress_test(test).table_legend}" for test in tests if get_stress_test(test).table_legend)
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:], legend])


def _cell(block: Mapping[str, Any], metric: str, *, first: bool, signal: tuple[str, ...] = ()) -> str:
    value = block.get(metric)
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):  # a flag (calibration's learned) reads as a word, not 1.000
        return FLAG_CELLS[bool(value)]
    text = f"{value:+.3f}" if metric in signal else f"{value:.3f}"  # a signed correlation shows its sign
    if metric in signal and block.get("below_noise_floor"):  # no interval either: it would dress up the noise
        return f"{text} {BELOW_FLOOR_CELL}"
    ci = block.get("ci95")
    if first and ci:
        digits = 3 if max(abs(ci[0]), abs(ci[1])) < NARROW_CI else 2
        text += f" [{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]"
    return text
