"""What each run depends on, as its config hash sees it, and how two such configs differ.

Each run's *resolved config* (:func:`pretrain_run_config`, :func:`finetune_run_config`) holds only the sections that
affect that run, so changing a fine-tuning setting never invalidates a finished pretraining run; its hash is recorded
in ``run.json`` and compared when a sweep resumes. Seeds are recorded beside the config, not inside it: all runs of a
family share one config hash.
"""

from __future__ import annotations

from typing import Any, Mapping

from nlp_underspec.config.coercion import unknown_task
from nlp_underspec.config.schema import TASKS, Recipe, TaskConfig, task_sources, to_plain
from nlp_underspec.errors import UsageError

NO_PRETRAIN = ("This recipe has no 'pretrain' section: nothing to pretrain. Add one, or fine-tune "
               "finetune.from_checkpoints instead.")


def _world_if_used(recipe: Recipe, *sources: str) -> dict[str, Any] | None:
    return to_plain(recipe.world) if "synthetic" in sources else None


def pretrain_run_config(recipe: Recipe) -> dict[str, Any]:
    """What a pretraining run depends on (seeds are recorded beside it, not in it)."""
    if recipe.pretrain is None:
        raise UsageError(NO_PRETRAIN)
    config = {"kind": "pretrain", "threads": recipe.threads, "pretrain": to_plain(recipe.pretrain),
              "world": _world_if_used(recipe, recipe.pretrain.corpus)}
    return _with_intervention(config, recipe, "pretrain")


def _with_intervention(config: dict[str, Any], recipe: Recipe, stage: str) -> dict[str, Any]:
    """``config`` plus the recipe's intervention when it applies to ``stage``; without the key otherwise, so a run
    that no intervention touches keeps the hash it had before interventions existed."""
    if recipe.intervention is not None and stage in recipe.intervention.where:
        config["intervention"] = to_plain(recipe.intervention)
    return config


def finetune_run_config(recipe: Recipe, task: str, *, parent: str) -> dict[str, Any]:
    """What a fine-tuning run depends on: the task's settings and the checkpoint it starts from.

    ``parent`` identifies the starting checkpoint: the parent pretraining run's config hash for runs of this recipe,
    or the path / Hub id of an outside checkpoint.
    """
    if task not in recipe.finetune.tasks:
        raise unknown_task("finetune", task, list(recipe.finetune.tasks) or list(TASKS),
                           ", ".join(recipe.finetune.tasks) or "(none in this recipe)")
    settings = recipe.finetune.tasks[task]
    sources = (*task_sources(settings), *(settings.dev_data or {}).values())
    config = {"kind": "finetune", "task": task, "threads": recipe.threads, "settings": task_identity(settings),
              "parent": parent, "world": _world_if_used(recipe, *sources)}
    return _with_intervention(config, recipe, "finetune")


# TaskConfig settings added after runs existed: left out of a run's (and an experiment's) identity while unset, so
# the runs and experiments made before them keep their config hashes (and are not re-run or re-scored).
LATER_TASK_SETTINGS = ("dev_data",)
LATER_EVALUATE_SETTINGS = ("bootstrap_seed",)  # the same for the evaluate section
LATER_RECIPE_SECTIONS = ("intervention",)  # the same for whole sections of the recipe


def task_identity(settings: TaskConfig) -> dict[str, Any]:
    """A task's settings as its runs' config (and hash) record them."""
    plain = to_plain(settings)
    for key in LATER_TASK_SETTINGS:
        if plain.get(key) is None:
            plain.pop(key, None)
    return plain


def recipe_identity(recipe: Recipe) -> dict[str, Any]:
    """The whole recipe as an experiment's config hash sees it (each task as :func:`task_identity`)."""
    plain = to_plain(recipe)
    for name, settings in recipe.finetune.tasks.items():
        plain["finetune"]["tasks"][name] = task_identity(settings)
    for key in LATER_EVALUATE_SETTINGS:
        if plain["evaluate"].get(key) is None:
            plain["evaluate"].pop(key, None)
    for key in LATER_RECIPE_SECTIONS:
        if plain.get(key) is None:
            plain.pop(key, None)
    return plain


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved configs (for 'the recipe changed' messages)."""
    keys = sorted(set(old) | set(new))
    changed = []
    missing = object()  # a key present in one config only differs even when the other side holds None
    for key in keys:
        a, b = old.get(key, missing), new.get(key, missing)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed.extend(config_diff(a, b, prefix=f"{name}."))
        elif a is missing or b is missing or a != b:
            changed.append(name)
    return changed
