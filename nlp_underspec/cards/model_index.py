"""The card's front matter: a ``ModelCardData`` whose ``model-index`` carries every stress-test and iid result of a
model as an ``EvalResult``, values exactly as in ``summary.json`` (seeds in the metric args).

A stress test's dataset name and Hub task type come from the registry (``title``, ``card_task_type_for``); a test
the registry does not know is entered under its own name as text classification.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nlp_underspec.analysis.registered import registered_test
from nlp_underspec.experiment.family import Family
from nlp_underspec.experiment.models import ModelResult
from nlp_underspec.experiment.runs import RunFolder
from nlp_underspec.report.family import headline_metric, metric_info

DEFAULT_TASK_TYPE = "text-classification"  # the Hub task type of a result nothing else describes
# The fine-tuning tasks' development splits: (dataset name, Hub task type).
IID_DATASETS = {"stsb": ("STS-B development split", "text-classification"),
                "coref": ("Pronoun resolution development split", "multiple-choice")}
CARD_TAGS = ["bert", "nlp_underspec", "seed-family", "underspecification", "gender-bias-evaluation"]


def stress_dataset(test: str, model: ModelResult) -> tuple[str, str]:
    """(dataset name, Hub task type) of ``model``'s entry for a stress test, as its registered test describes it."""
    registered = registered_test(test)
    if registered is None:
        return test, DEFAULT_TASK_TYPE
    return registered.title or test, registered.card_task_type_for(model.tests.get(test, {}))


def _seed_args(model: ModelResult, *, with_model: bool) -> dict[str, Any]:
    args: dict[str, Any] = {"model": model.name} if with_model else {}
    if model.pretrain_seed is not None:
        args["pretrain_seed"] = model.pretrain_seed
    if model.finetune_seed is not None:
        args["finetune_seed"] = model.finetune_seed
    return args


def _stress_results(model: ModelResult, test: str, *, with_model: bool) -> list:
    from huggingface_hub import EvalResult

    dataset_name, task_type = stress_dataset(test, model)
    results = []
    for metric in [m for t, m in model.stress_metrics() if t == test]:
        args = _seed_args(model, with_model=with_model)
        ci = model.ci95(test)
        if ci is not None and metric == headline_metric(test):
            args["ci95"] = list(ci)
        results.append(EvalResult(task_type=task_type, task_name=f"{test} stress test", dataset_type=test,
                                  dataset_name=dataset_name, metric_type=metric,
                                  metric_name=metric_info(test, metric).label,
                                  metric_value=model.value(test, metric), metric_args=args))
    return results


def _iid_results(model: ModelResult, task: str, *, with_model: bool) -> list:
    from huggingface_hub import EvalResult

    dataset_name, task_type = IID_DATASETS.get(task, (task, DEFAULT_TASK_TYPE))
    return [EvalResult(task_type=task_type, task_name=task, dataset_type=task, dataset_name=dataset_name,
                       metric_type=metric, metric_name=f"{task} {metric}", metric_value=value,
                       metric_args=_seed_args(model, with_model=with_model))
            for metric, value in model.iid.get(task, {}).items()]


def eval_results_for(model: ModelResult, *, tests: Iterable[str], iid_tasks: Iterable[str] = (),
                     with_model: bool = False) -> list:
    """One ``EvalResult`` per stress-test metric (and iid metric) of ``model``; values exactly as in summary.json."""
    results = []
    for test in tests:
        results += _stress_results(model, test, with_model=with_model)
    for task in iid_tasks:
        results += _iid_results(model, task, with_model=with_model)
    return results


def checkpoint_results(family: Family, run: RunFolder, *,
                       step: int | None = None) -> tuple[ModelResult | None, tuple[str, ...], tuple[str, ...]]:
    """(the model's results, its stress tests, its iid tasks) that a checkpoint's card reports: a fine-tuned pair's
    card only its own task's tests and dev metrics, an intermediate checkpoint's none."""
    model = family.result_for_run(run)
    tests = family.tests_for_run(run) if step is None else ()
    iid_tasks = (run.task,) if run.task and model and run.task in model.iid and step is None else ()
    return model, tests, iid_tasks


def model_card_results(model: ModelResult) -> tuple[list[str], list[str]]:
    """(its stress tests, its iid tasks) that the card of a model the toolkit did not train reports: all of them."""
    return list(model.tests), list(model.iid)


def card_data(*, model_name: str, eval_results: list, pipeline_tag: str | None, base_model: str | None,
              extra: dict[str, Any]):
    """The front matter of a card (license, library, tags, and the ``nlp_underspec`` block in ``extra``)."""
    from huggingface_hub import ModelCardData

    return ModelCardData(model_name=model_name, eval_results=eval_results or None, license="apache-2.0",
                         library_name="transformers", pipeline_tag=pipeline_tag, base_model=base_model,
                         language="en", tags=list(CARD_TAGS), **extra)
