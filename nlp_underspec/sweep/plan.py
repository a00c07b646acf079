"""Expanding a recipe into the plan of runs, and the plan's record on disk (``manifest.json``).

The grid is pretraining seeds × fine-tuning seeds × tasks. Each run is a :class:`RunSpec` with a stable key
(``pretrain/p00``, ``finetune/stsb/p00-f01``), its folder, seeds, the runs it waits for and its resolved config, whose
hash is compared with any finished run already in that folder. Pretraining can be replaced by a list of existing
checkpoints (``finetune.from_checkpoints``), for families the user did not pretrain.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nlp_underspec.artifacts import MANIFEST
from nlp_underspec.config import Recipe, finetune_run_config, pretrain_run_config, recipe_identity, to_plain
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.io import atomic_write_json, read_json_object
from nlp_underspec.records import config_hash, finetune_run_id, pretrain_run_id, read_run_record


NOTHING_TO_RUN = ("Recipe {recipe} plans no runs: it needs a 'pretrain' section with seeds.pretrain, or "
                  "finetune.from_checkpoints and at least one task under finetune.tasks.")
MANIFEST_BAD_KEY = "{path}: '{key}' must be {kind}, as `nlp-underspec run` writes it. {hint}"
MANIFEST_HINT = ("Restore it, or delete it and `nlp-underspec run` the experiment's recipe with --out {exp_dir} "
                 "to rewrite it.")
UNKNOWN_TEST = "Recipe '{name}', evaluate.tests: {message}"
NO_TASK_FOR_TEST = ("Stress test '{test}' needs fine-tuned '{task}' models, but finetune.tasks has no '{task}'. Add the "
                    "task, or remove '{test}' from evaluate.tests.")



def _check_test_names(recipe: Recipe) -> None:
    """Every name in evaluate.tests is a registered test: the registry's own "Did you mean", said of the recipe key."""
    from nlp_underspec.stress import available_stress_tests

    known = available_stress_tests()
    for test in recipe.evaluate.tests:
        if test not in known:
            raise UsageError(UNKNOWN_TEST.format(name=recipe.name,
                                                 message=unknown_name_message("stress test", test, known)))


def task_for_test(test: str) -> str | None:
    """Which fine-tuning task provides the model a stress test scores: the test's own ``pairs_with_task`` (a pair's
    row of an STS test comes from its STS-B model, that of a pronoun test from its pronoun-resolution model)."""
    from nlp_underspec.stress import get_stress_test

    return get_stress_test(test).pairs_with_task


@dataclass(frozen=True)
class RunSpec:
    key: str  # unique within the experiment: "pretrain/p00", "finetune/stsb/p00-f01"
    run_id: str
    kind: str  # "pretrain" | "finetune"
    folder: str  # relative to the experiment folder
    seeds: dict[str, int | None]
    config: dict[str, Any]  # the resolved per-run config (config.pretrain_run_config / finetune_run_config)
    config_hash: str
    task: str | None = None
    start_from: str | None = None  # fine-tuning: a run key of this plan, or an outside checkpoint path / Hub id
    depends_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["depends_on"] = list(self.depends_on)
        return data


@dataclass
class Plan:
    recipe: Recipe
    runs: list[RunSpec]
    tests: tuple[str, ...]
    pairs: list[dict[str, Any]] = field(default_factory=list)  # (pretrain seed, finetune seed) pairs that get scored

    def by_key(self) -> dict[str, RunSpec]:
        return {run.key: run for run in self.runs}

    def of_kind(self, kind: str) -> list[RunSpec]:
        return [run for run in self.runs if run.kind == kind]


def _external_parents(recipe: Recipe) -> list[tuple[int | None, str]]:
    """(pretrain seed, checkpoint) for outside checkpoints: the seed from the checkpoint's run.json, else its position in
    the list when there are several (so that models sharing a checkpoint share a group), else none."""
    parents = []
    several = len(recipe.finetune.from_checkpoints) > 1
    for index, checkpoint in enumerate(recipe.finetune.from_checkpoints):
        seed = None
        record = read_run_record(checkpoint) if Path(checkpoint).is_dir() else None
        if record is not None:
            seed = record.get("seeds", {}).get("pretrain_seed")
        if seed is None and several:
            seed = index
        parents.append((seed, checkpoint))
    return parents


def build_plan(recipe: Recipe) -> Plan:
    """Expand the recipe's grid. Order matters only for display and dispatch: pretraining first, then fine-tuning."""
    runs: list[RunSpec] = []
    parents: list[tuple[int | None, str, str | None]] = []  # (pretrain seed, start_from, dependency key)
    if recipe.pretrain is not None and not recipe.finetune.from_checkpoints:
        pretrain_config = pretrain_run_config(recipe)
        pretrain_hash = config_hash(pretrain_config)
        for seed in recipe.seeds.pretrain:
            run_id = pretrain_run_id(seed)
            key = f"pretrain/{run_id}"
            runs.append(RunSpec(key=key, run_id=run_id, kind="pretrain", folder=key, config=pretrain_config,
                                config_hash=pretrain_hash, seeds={"pretrain_seed": seed}))
            parents.append((seed, key, key))
        parent_identity = {key: pretrain_hash for _, key, _ in parents}
    else:
        parents = [(seed, checkpoint, None) for seed, checkpoint in _external_parents(recipe)]
        parent_identity = {checkpoint: checkpoint for _, checkpoint, _ in parents}

    _check_test_names(recipe)
    for test in recipe.evaluate.tests:
        task = task_for_test(test)
        if task is not None and task not in recipe.finetune.tasks and recipe.finetune.tasks:
            raise UsageError(NO_TASK_FOR_TEST.format(test=test, task=task))

    pairs = []
    # Without a task there is nothing to fine-tune: a pair would be a model with no runs (only pretraining is scored).
    for pretrain_seed, start_from, dependency in parents if recipe.finetune.tasks else []:
        for finetune_seed in recipe.seeds.finetune:
            run_id = finetune_run_id(pretrain_seed, finetune_seed)
            pairs.append({"model": run_id, "pretrain_seed": pretrain_seed, "finetune_seed": finetune_seed,
                          "parent": start_from})
            for task in recipe.finetune.tasks:
                config = finetune_run_config(recipe, task, parent=parent_identity[start_from])
                key = f"finetune/{task}/{run_id}"
                seeds = {"pretrain_seed": pretrain_seed, "finetune_seed": finetune_seed,
                         "init_seed": recipe.seeds.init_seed, "data_seed": recipe.seeds.data_seed}
                runs.append(RunSpec(key=key, run_id=run_id, kind="finetune", folder=key, config=config,
                                    config_hash=config_hash(config), seeds=seeds, task=task, start_from=start_from,
                                    depends_on=(dependency,) if dependency else ()))
    if not runs:
        raise UsageError(NOTHING_TO_RUN.format(recipe=recipe.name))
    return Plan(recipe=recipe, runs=runs, tests=tuple(recipe.evaluate.tests), pairs=pairs)


def recipe_hash(recipe: Recipe) -> str:
    """The experiment's config hash (summary.json ``config_hash``): everything but how the sweep is executed."""
    plain = recipe_identity(recipe)
    plain.pop("sweep", None)
    plain.pop("log_with", None)
    return config_hash(plain)


def write_manifest(exp_dir: Path, plan: Plan, *, statuses: dict[str, str] | None = None) -> Path:
    manifest = {
        "name": plan.recipe.name,
        "config_hash": recipe_hash(plan.recipe),
        "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tests": list(plan.tests),
        "pairs": plan.pairs,
        "runs": [dict(run.to_dict(), status=(statuses or {}).get(run.key)) for run in plan.runs],
        "recipe": to_plain(plan.recipe),
    }
    return atomic_write_json(exp_dir / MANIFEST, manifest)


def read_manifest(exp_dir: Path) -> dict[str, Any] | None:
    """The experiment's manifest (None when there is none), checked for the shape :func:`write_manifest` gives it:
    an object whose ``name`` is a string and whose ``recipe`` is a mapping (what `status` and `run` read)."""
    path = exp_dir / MANIFEST
    if not path.is_file():
        return None
    manifest = read_json_object(path, hint=MANIFEST_HINT.format(exp_dir=exp_dir))
    for key, kind, name in (("name", str, "a string"), ("recipe", dict, "a mapping")):
        if not isinstance(manifest.get(key), kind):
            raise UsageError(MANIFEST_BAD_KEY.format(path=path, key=key, kind=name, hint=MANIFEST_HINT.format(
                exp_dir=exp_dir)))
    return manifest
