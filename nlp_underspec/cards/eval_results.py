"""The Hub's newer evaluation results: one ``.eval_results/<test>.<metric>.yaml`` per stress-test and iid metric of a
checkpoint, beside the card's ``model-index``, and the reader that takes them back.

Each file holds one entry in huggingface_hub's ``EvalResultEntry`` format (``dataset.id`` = the stress test or
fine-tuning task, ``dataset.task_id`` = the metric, ``value``, ``notes``), written through
``eval_result_entries_to_yaml`` where the installed huggingface_hub has it and by :func:`_own_mapping` (the same
mapping) where it does not. The values are the model-index's ``EvalResult`` values, so exactly summary.json's. The
seeds and the 95% interval with its method go into ``notes``, one ``key: value`` pair each, separated by ``; ``,
so that a person reads them on the Hub and :func:`read_eval_results` reads them back. Only ``yaml.safe_dump`` writes
and a bounded ``yaml.safe_load`` reads; no file carries a token (``verifyToken`` is never written).

:func:`write_eval_results` is the one writer: ``nlp-underspec card`` calls it beside every checkpoint or model card it
writes, and a push's staging beside every repo's card, so what a user reads locally is what the Hub gets.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlp_underspec.cards.model_index import checkpoint_results, eval_results_for, model_card_results
from nlp_underspec.config.yamlsafe import load_yaml_value
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.family import Family
from nlp_underspec.experiment.models import ModelResult, finite
from nlp_underspec.experiment.runs import RunFolder
from nlp_underspec.io import atomic_write_text
from nlp_underspec.report.family import headline_metric
from nlp_underspec.textio import read_text

EVAL_RESULTS = ".eval_results"  # the folder of a Hub repo the Hub reads these files from
CI_METHOD = "percentile bootstrap over occupations (resampled with replacement)"  # every stress test's ci95
NOTES_SEPARATOR = "; "

# Where the files come from, said by every message that asks for them again.
PUSH_STAGE = "`nlp-underspec push RUNDIR --repo-prefix ORG/NAME --dry-run --staging DIR`"
WRITE_AGAIN = "write it again with `nlp-underspec card RUNDIR` (or " + PUSH_STAGE + ")"
WHERE_FROM = ("Write the cards with `nlp-underspec card RUNDIR` and pass one of RUNDIR/cards/<run id>/, or stage the "
              "repos with " + PUSH_STAGE + " and pass one of DIR's folders.")
PATH_MISSING = ("{path} does not exist. Pass a card folder or a staged repo folder (or its {name}/, or one .yaml file "
                "in it). " + WHERE_FROM)
NO_EVAL_RESULTS = ("{folder} has no {name}/ folder of .yaml files (a card without results, such as the family card "
                   "or an intermediate checkpoint's, has none). " + WHERE_FROM)
EMPTY_EVAL_RESULTS = ("{folder} holds no .yaml files: a card with results has one per stress-test and iid metric. "
                      "Write the cards again with `nlp-underspec card RUNDIR` (or stage the repo again with "
                      + PUSH_STAGE + ").")
NOT_YAML_FILE = ("{path} is not a .yaml file. Pass a card folder or a staged repo folder (or its {name}/, or one "
                 ".yaml file in it).")
BAD_YAML = "{where}: not valid YAML ({problem}). Rewrite the file, or " + WRITE_AGAIN + "."
BAD_FIELD = ("{path}: field '{field}' {problem}. An entry of a .eval_results file needs dataset.id, dataset.task_id "
             "and a numeric value (huggingface_hub's EvalResultEntry); fix the file, or " + WRITE_AGAIN + ".")
OUR_NOTES = ("pretrain_seed", "finetune_seed", "ci95", "ci95_method")  # the keys of notes the reader parses


@dataclass(frozen=True)
class StoredEvalResult:
    """One entry of a ``.eval_results`` file: which result, its value, and what its notes say."""

    file: str  # the file's name inside .eval_results/
    dataset_id: str  # the stress test or fine-tuning task: the model-index dataset type
    task_id: str  # the metric: the model-index metric type
    value: float
    pretrain_seed: int | None = None
    finetune_seed: int | None = None
    ci95: tuple[float, float] | None = None
    ci95_method: str | None = None
    other_notes: str | None = None  # what else the notes say (a person's text): shown, and written back as it was

    @property
    def notes(self) -> str | None:
        parts = [f"{key}: {value}" for key, value in (("pretrain_seed", self.pretrain_seed),
                                                       ("finetune_seed", self.finetune_seed)) if value is not None]
        if self.ci95 is not None:
            parts.append(f"ci95: [{self.ci95[0]!r}, {self.ci95[1]!r}]")
            parts.append(f"ci95_method: {self.ci95_method or CI_METHOD}")
        if self.other_notes:
            parts.append(self.other_notes)
        return NOTES_SEPARATOR.join(parts) or None


def file_name(dataset_id: str, task_id: str) -> str:
    """``<test>.<metric>.yaml``: one file per (test, metric), its name safe on every file system.

    >>> file_name("toy_test", "bias_r"), file_name("my/test", "r 2")
    ('toy_test.bias_r.yaml', 'my_test.r_2.yaml')
    """
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "result"
    return f"{safe(dataset_id)}.{safe(task_id)}.yaml"


def _interval(model: ModelResult, test: str, metric: str, args: dict[str, Any]) -> tuple[float, float] | None:
    """The 95% interval summary.json gives for ``metric``: ``ci95`` for the headline (as in the model-index's metric
    args), ``<metric>_ci95`` for another metric that has one; iid dev metrics have none."""
    if "ci95" in args:
        return float(args["ci95"][0]), float(args["ci95"][1])
    block = model.tests.get(test, {})
    ci = block.get(f"{metric}_ci95") if metric != headline_metric(test) else None
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(finite(v) is not None for v in ci):
        return float(ci[0]), float(ci[1])
    return None


def results_for(model: ModelResult, *, tests, iid_tasks=()) -> list[StoredEvalResult]:
    """One result per stress-test metric and iid metric of ``model``, from the very ``EvalResult`` entries of its
    card's model-index (so values exactly as in summary.json), with seeds and intervals."""
    results = []
    for entry in eval_results_for(model, tests=tests, iid_tasks=iid_tasks):
        args = dict(entry.metric_args or {})
        ci = _interval(model, entry.dataset_type, entry.metric_type, args)
        results.append(StoredEvalResult(
            file=file_name(entry.dataset_type, entry.metric_type), dataset_id=entry.dataset_type,
            task_id=entry.metric_type, value=entry.metric_value, pretrain_seed=args.get("pretrain_seed"),
            finetune_seed=args.get("finetune_seed"), ci95=ci, ci95_method=CI_METHOD if ci else None))
    return results


def checkpoint_eval_results(family: Family, run: RunFolder, *, step: int | None = None) -> list[StoredEvalResult]:
    """The results a checkpoint's repo carries: those of its card (none for an intermediate checkpoint)."""
    model, tests, iid_tasks = checkpoint_results(family, run, step=step)
    return results_for(model, tests=tests, iid_tasks=iid_tasks) if model is not None and step is None else []


def model_eval_results(model: ModelResult) -> list[StoredEvalResult]:
    """The results a model card carries (``card --model``, or a family without run folders): every test and task."""
    tests, iid_tasks = model_card_results(model)
    return results_for(model, tests=tests, iid_tasks=iid_tasks)


def _own_mapping(result: StoredEvalResult) -> dict[str, Any]:
    """The ``.eval_results`` entry, written by hand for a huggingface_hub without ``EvalResultEntry`` (before 1.x)."""
    entry: dict[str, Any] = {"dataset": {"id": result.dataset_id, "task_id": result.task_id}, "value": result.value}
    if result.notes is not None:
        entry["notes"] = result.notes
    return entry


def entry_mapping(result: StoredEvalResult) -> dict[str, Any]:
    """The YAML mapping of one entry, as huggingface_hub's ``eval_result_entries_to_yaml`` writes it."""
    try:
        from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml
    except ImportError:
        return _own_mapping(result)
    entry = EvalResultEntry(dataset_id=result.dataset_id, task_id=result.task_id, value=result.value,
                            notes=result.notes)
    return eval_result_entries_to_yaml([entry])[0]


def write_eval_results(folder: str | os.PathLike, results: list[StoredEvalResult]) -> list[Path]:
    """Write ``folder/.eval_results/<file>`` for every result (one entry each); returns the paths written."""
    target = Path(folder) / EVAL_RESULTS
    written = []
    for result in results:
        target.mkdir(parents=True, exist_ok=True)
        # width: the notes stay on one line, as a person reads them
        text = yaml.safe_dump([entry_mapping(result)], sort_keys=False, allow_unicode=True, width=4096)
        atomic_write_text(target / result.file, text)
        written.append(target / result.file)
    return written


def _result_files(path: Path) -> list[Path]:
    """The .yaml files ``path`` stands for: itself, those of its ``.eval_results/``, or of itself when it is that
    folder (name order, so the table and the JSON list them the same way every time)."""
    if not path.exists():
        raise UsageError(PATH_MISSING.format(path=path, name=EVAL_RESULTS))
    if not path.is_dir():
        if path.suffix != ".yaml":
            raise UsageError(NOT_YAML_FILE.format(path=path, name=EVAL_RESULTS))
        return [path]
    folder = path if path.name == EVAL_RESULTS else path / EVAL_RESULTS
    if not folder.is_dir():
        raise UsageError(NO_EVAL_RESULTS.format(folder=path, name=EVAL_RESULTS))
    files = sorted(p for p in folder.glob("*.yaml") if not p.is_dir())
    if not files:
        raise UsageError(EMPTY_EVAL_RESULTS.format(folder=folder))
    return files


def _load(path: Path) -> Any:
    """The file's YAML, loaded safely (no Python objects, aliases bounded); a syntax error names its line."""
    try:
        return load_yaml_value(read_text(path), str(path))
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        mark = getattr(err, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise UsageError(BAD_YAML.format(where=where, problem=problem)) from None


def read_eval_results(path: str | os.PathLike) -> list[StoredEvalResult]:
    """Every entry of ``path/.eval_results/*.yaml`` (or of ``path`` when it is that folder, or one such file), files
    in name order; one UsageError naming the file (and the field or line) for anything that is not an entry."""
    results = []
    for file in _result_files(Path(path)):
        data = _load(file)
        if not isinstance(data, list) or not data:
            raise UsageError(BAD_FIELD.format(path=file, field="(top level)",
                                              problem="must be a list of entries (mappings)"))
        results += [_entry(file, index, item) for index, item in enumerate(data)]
    return results


def _text_field(path: Path, where: str, mapping: dict, key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        problem = _problem(value, "a non-empty text")
        raise UsageError(BAD_FIELD.format(path=path, field=f"{where}{key}", problem=problem))
    return value


def _problem(value: Any, wanted: str) -> str:
    return "is missing" if value is None else f"must be {wanted}, got {type(value).__name__} {value!r}"[:200]


def _entry(path: Path, index: int, item: Any) -> StoredEvalResult:
    where = f"[{index}]."
    if not isinstance(item, dict):
        raise UsageError(BAD_FIELD.format(path=path, field=f"[{index}]", problem=_problem(item, "a mapping")))
    dataset = item.get("dataset")
    if not isinstance(dataset, dict):
        raise UsageError(BAD_FIELD.format(path=path, field=f"{where}dataset",
                                          problem=_problem(dataset, "a mapping with id and task_id")))
    dataset_id = _text_field(path, f"{where}dataset.", dataset, "id")
    task_id = _text_field(path, f"{where}dataset.", dataset, "task_id")
    value = item.get("value")
    if finite(value) is None:
        raise UsageError(BAD_FIELD.format(path=path, field=f"{where}value", problem=_problem(value, "a finite number")))
    notes = item.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise UsageError(BAD_FIELD.format(path=path, field=f"{where}notes", problem=_problem(notes, "a text")))
    return StoredEvalResult(file=path.name, dataset_id=dataset_id, task_id=task_id, value=float(value),
                            **_parse_notes(path, where, notes or ""))


def _parse_notes(path: Path, where: str, notes: str) -> dict[str, Any]:
    """The seeds and the interval our notes carry; other text (a person's note) is kept out of those fields, in
    ``other_notes``."""
    fields: dict[str, Any] = {}
    other = []
    for part in notes.split(NOTES_SEPARATOR):
        key, sep, raw = part.partition(": ")
        if not sep or key not in OUR_NOTES:
            other += [part] if part.strip() else []
            continue
        field = f"{where}notes.{key}"
        if key in ("pretrain_seed", "finetune_seed"):
            if not re.fullmatch(r"-?\d+", raw.strip()):
                raise UsageError(BAD_FIELD.format(path=path, field=field, problem=f"must be an integer, got {raw!r}"))
            fields[key] = int(raw)
        elif key == "ci95":
            fields[key] = _parse_interval(path, field, raw)
        else:
            fields[key] = raw.strip()
    if other:
        fields["other_notes"] = NOTES_SEPARATOR.join(other)
    return fields


def _parse_interval(path: Path, field: str, raw: str) -> tuple[float, float]:
    try:
        low, high = json.loads(raw)
        low, high = float(low), float(high)
    except (ValueError, TypeError):
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise UsageError(BAD_FIELD.format(path=path, field=field,
                                          problem=f"must be [low, high] with low <= high, got {raw!r}"))
    return low, high
