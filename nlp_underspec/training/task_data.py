"""A fine-tuning task's examples: the training examples (every source of ``data`` pooled; or given ones, held to what
the loaders check), the dev sets by name, each left with its labelled examples only; the training subsample drawn by
the data seed; and the dataset the loop indexes."""

from __future__ import annotations

import logging
import numbers
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from nlp_underspec.config import Recipe, TaskConfig, WorldConfig, finetune_run_config, task_sources
from nlp_underspec.data.interventions import intervene_examples
from nlp_underspec.data.stsb import MAX_SCORE, MIN_SCORE
from nlp_underspec.errors import UsageError
from nlp_underspec.seeding import numpy_rng
from nlp_underspec.training.finetune_tasks import Task, get_task, gold

logger = logging.getLogger(__name__)

GIVEN_BAD_STS_GOLD = "{where}: gold similarity {label!r} is not a finite number from 0 to 5 (the STS-B scale)."
NO_TRAINING_DATA = "Task '{task}': the '{split}' split of {source} holds no labelled examples to train on."
NO_DEV_LABELS = "Task '{task}': the '{split}' split of {source} holds no labelled examples to evaluate on."
DEV_IS_TRAINING_DATA = ("Task '{task}': dev set '{name}' is the training file {source} (one file is its own every "
                        "split), so its dev metrics are measured on training examples, not held-out ones. Name a "
                        "held-out file in dev_data.")


class CyclingExamples(Dataset):
    """A list of examples indexed by the loop's virtual indices (epoch * n + i)."""

    def __init__(self, examples: Sequence):
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, virtual_index: int):
        return self.examples[int(virtual_index) % len(self.examples)]


def subsample(examples: list, *, limit: int | None, data_seed: int) -> list:
    """At most ``limit`` examples, drawn by the data seed (original order kept)."""
    if limit is None or len(examples) <= limit:
        return examples
    keep = np.sort(numpy_rng(data_seed, "subsample").choice(len(examples), size=limit, replace=False))
    return [examples[i] for i in keep]


def task_settings(recipe: Recipe, task: str) -> TaskConfig:
    finetune_run_config(recipe, task, parent="")  # raises the recipe's "unknown task ... Available" message
    return recipe.finetune.tasks[task]


def check_task_data(recipe: Recipe, task: str) -> None:
    """Load a task's train and dev splits once, as a run would, so a sweep meets a wrong path, layout, label or encoding
    before its first run rather than in every fine-tuning run after the whole pretraining grid."""
    spec, settings = get_task(task), task_settings(recipe, task)
    labelled_training_examples(spec, settings, recipe.world, None)
    labelled_dev_sets(spec, settings, recipe.world, None)


def labelled_training_examples(spec: Task, settings: TaskConfig, world: WorldConfig, given: Sequence | None) -> list:
    """The labelled training examples: every source of ``data`` pooled, in the order the sources are listed."""
    if given is not None:
        return _labelled_given(spec, given, "train", settings.train_split)
    return [e for source in task_sources(settings)
            for e in _labelled_source(spec, source, settings.train_split, "train", world)]


def intervened_training_examples(examples: Sequence, intervention) -> list:
    """The training examples with the recipe's intervention applied when it names ``finetune`` (drawn per position in
    the pooled training set, before subsampling, so every fine-tuning seed sees the same swapped examples). Dev sets
    and stress sets never pass through here."""
    return intervene_examples(examples, intervention, "finetune")


def labelled_dev_sets(spec: Task, settings: TaskConfig, world: WorldConfig, given: Sequence | None) -> dict[str, list]:
    """The dev examples by name: ``dev_data``'s names, or one set per source of ``data`` (its ``dev_split``)."""
    if given is not None:
        return {"dev": _labelled_given(spec, given, "dev", settings.dev_split)}
    named = settings.dev_data if settings.dev_data is not None else \
        dict(zip(source_names(task_sources(settings)), task_sources(settings)))
    for name, source in named.items():
        _warn_if_training_data(spec, settings, name, source)
    return {name: _labelled_source(spec, source, settings.dev_split, "dev", world) for name, source in named.items()}


def _warn_if_training_data(spec: Task, settings: TaskConfig, name: str, source: str) -> None:
    """A dev set that is a training file is no held-out set: a single file is its own every split."""
    if source in task_sources(settings) and Path(source).is_file():
        logger.warning(DEV_IS_TRAINING_DATA.format(task=spec.name, name=name, source=source))


def source_names(sources: Sequence[str]) -> list[str]:
    """Metric-name-safe names for the sources of ``data``: a file as folder and stem, a folder by its name,
    lowercased with ``_`` for anything else (numbered when two would be alike).

    >>> source_names(["data/dpr/train.c.txt", "data/winogrande/train_l.jsonl", "data/gap", "synthetic"])
    ['dpr_train_c', 'winogrande_train_l', 'gap', 'synthetic']
    """
    names: list[str] = []
    for source in sources:
        path = Path(str(source))
        words = f"{path.parent.name} {path.name.rsplit('.', 1)[0]}" if path.suffix else path.name
        name = re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_") or "source"
        name = name if name[0].isalpha() else f"source_{name}"
        names.append(f"{name}_{len(names)}" if name in names else name)
    return names


def _labelled_source(spec: Task, source: str, split: str, which: str, world: WorldConfig) -> list:
    # the loaders check each labelled row, naming file and line
    return _with_gold(spec, spec.load(source, split, world), which, split, f"'{source}'")


def _labelled_given(spec: Task, given: Sequence, which: str, split: str) -> list:
    examples = [_check_given(spec, example, which, index) for index, example in enumerate(given)]
    return _with_gold(spec, examples, which, split, "the given examples")


def _with_gold(spec: Task, examples: list, which: str, split: str, source: str) -> list:
    """The examples that have a gold label (an unlabelled row is left out, as a file's empty score); none is an error."""
    examples = [e for e in examples if gold(e) is not None and np.isfinite(float(gold(e)))]
    if not examples:
        message = NO_TRAINING_DATA if which == "train" else NO_DEV_LABELS
        raise UsageError(message.format(task=spec.name, split=split, source=source))
    return examples


def _check_given(spec: Task, example, which: str, index: int):
    """A given example (library use) is held to what the loaders check: STS gold finite and 0-5, a coref label an
    index into its candidates. ``None`` means unlabelled (left out, like a file's empty score)."""
    where = f"Task '{spec.name}': given {which} example {index}"
    if spec.name == "coref":
        return example.validate(where)
    label = gold(example)
    if label is not None and not (isinstance(label, numbers.Real) and not isinstance(label, bool)
                                  and MIN_SCORE <= label <= MAX_SCORE):  # NaN fails the comparison too
        raise UsageError(GIVEN_BAD_STS_GOLD.format(where=where, label=label))
    return example


def data_name(settings: TaskConfig, which: str, given: Sequence | None) -> str:
    """The training data as a loss message names it."""
    split = settings.train_split if which == "train" else settings.dev_split
    named = ", ".join(f"'{source}'" for source in task_sources(settings))
    return "the given examples" if given is not None else f"{named}, {split} split"
