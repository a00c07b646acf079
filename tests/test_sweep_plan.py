"""The sweep's plan: grid expansion, dependencies, config-change detection, status; no training involved."""

from __future__ import annotations

import sys
from pathlib import Path

import json

import pytest

from nlp_underspec.config import recipe_from_dict
from nlp_underspec.errors import UsageError
from nlp_underspec.records import RunRecord, mark_complete
from nlp_underspec.sweep.plan import build_plan, recipe_hash
from nlp_underspec.sweep.state import check_unchanged, run_state

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' own helpers
from stand_ins import write_model_stand_ins  # noqa: E402

BASE = {
    "name": "grid",
    "seeds": {"pretrain": [0, 1], "finetune": [0, 1, 2]},
    "pretrain": {"max_steps": 10},
    "finetune": {"tasks": {"stsb": {}, "coref": {}}},
    "evaluate": {"tests": ["sts_gender", "winogender"]},
}


def _recipe(**changes):
    data = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return recipe_from_dict(data)


def _complete(folder, run):
    """A finished run: its model files (stand-ins), then its record."""
    folder.mkdir(parents=True, exist_ok=True)
    write_model_stand_ins(folder)
    record = RunRecord.new(run_id=run.run_id, kind=run.kind, seeds=run.seeds, config=run.config, task=run.task)
    mark_complete(folder, record)


def test_grid_expands_pretrain_then_finetune_with_dependencies():
    plan = build_plan(_recipe())
    keys = [run.key for run in plan.runs]
    assert keys[:2] == ["pretrain/p00", "pretrain/p01"]
    assert len(plan.of_kind("finetune")) == 2 * 3 * 2
    assert "finetune/coref/p01-f02" in keys
    run = plan.by_key()["finetune/stsb/p01-f02"]
    assert run.depends_on == ("pretrain/p01",) and run.seeds["pretrain_seed"] == 1 and run.seeds["finetune_seed"] == 2
    assert [p["model"] for p in plan.pairs] == ["p00-f00", "p00-f01", "p00-f02", "p01-f00", "p01-f01", "p01-f02"]


def test_all_runs_of_a_kind_share_one_config_hash():
    plan = build_plan(_recipe())
    assert len({run.config_hash for run in plan.of_kind("pretrain")}) == 1
    assert len({run.config_hash for run in plan.runs if run.task == "stsb"}) == 1


def test_adding_seeds_adds_only_new_runs():
    before = {run.key: run.config_hash for run in build_plan(_recipe()).runs}
    after = {run.key: run.config_hash for run in build_plan(_recipe(**{"seeds.pretrain": [0, 1, 2]})).runs}
    assert set(after) - set(before) == {"pretrain/p02"} | {f"finetune/{t}/p02-f0{f}" for t in ("stsb", "coref")
                                                           for f in range(3)}
    assert all(after[key] == value for key, value in before.items())


def test_finetune_change_leaves_pretraining_untouched():
    old, new = build_plan(_recipe()), build_plan(_recipe(**{"finetune.tasks.stsb": {"lr": 1e-3}}))
    assert old.by_key()["pretrain/p00"].config_hash == new.by_key()["pretrain/p00"].config_hash
    assert old.by_key()["finetune/stsb/p00-f00"].config_hash != new.by_key()["finetune/stsb/p00-f00"].config_hash
    assert old.by_key()["finetune/coref/p00-f00"].config_hash == new.by_key()["finetune/coref/p00-f00"].config_hash


@pytest.mark.bad_input
def test_changed_recipe_refuses_naming_the_key(tmp_path):
    run = build_plan(_recipe()).by_key()["pretrain/p00"]
    _complete(tmp_path / run.folder, run)
    assert run_state(tmp_path, run) == "complete"
    changed = build_plan(_recipe(**{"pretrain.lr": 5e-4})).by_key()["pretrain/p00"]
    with pytest.raises(UsageError) as err:
        check_unchanged(tmp_path, changed)
    assert str(err.value) == (
        f"{tmp_path / 'pretrain/p00'} was completed with a different config: pretrain.lr changed since. Restore the "
        "recipe, use a new --out, or pass --force-rerun to redo the affected runs.")


def test_run_states(tmp_path):
    plan = build_plan(_recipe())
    run = plan.by_key()["pretrain/p01"]
    assert run_state(tmp_path, run) == "pending"
    (tmp_path / run.folder).mkdir(parents=True)
    (tmp_path / run.folder / "checkpoint-state").mkdir()
    assert run_state(tmp_path, run) == "partial"


def test_external_checkpoints_replace_pretraining(tmp_path):
    plan = build_plan(_recipe(**{"finetune.from_checkpoints": ["some/model"], "pretrain": None}))
    assert not plan.of_kind("pretrain")
    assert [p["model"] for p in plan.pairs] == ["f00", "f01", "f02"]
    assert all(run.start_from == "some/model" and not run.depends_on for run in plan.runs)


def test_recipe_hash_ignores_how_the_sweep_runs():
    assert recipe_hash(_recipe()) == recipe_hash(_recipe(**{"sweep.jobs": 2, "sweep.executor": "ray"}))
    assert recipe_hash(_recipe()) != recipe_hash(_recipe(**{"world.bias_strength": 0.5}))


@pytest.mark.bad_input
def test_test_without_its_task_is_refused():
    with pytest.raises(UsageError) as err:
        build_plan(_recipe(**{"finetune.tasks": {"stsb": {}}}))
    assert str(err.value) == ("Stress test 'winogender' needs fine-tuned 'coref' models, but finetune.tasks has no "
                              "'coref'. Add the task, or remove 'winogender' from evaluate.tests.")


@pytest.mark.bad_input
def test_a_misspelled_test_in_the_recipe_names_the_key():
    with pytest.raises(UsageError) as err:
        build_plan(_recipe(**{"evaluate.tests": ["sts_gender", "wingender"]}))
    assert str(err.value) == ("Recipe 'grid', evaluate.tests: Unknown stress test 'wingender'. Did you mean "
                              "'winogender'? Available: calibration, sts_gender, winogender.")


def test_a_recipe_without_tasks_plans_pretraining_and_no_empty_pairs():
    """A pair with no fine-tuning run would count as trained and then be scored without a model to score."""
    plan = build_plan(_recipe(**{"finetune.tasks": {}}))
    assert [run.key for run in plan.runs] == ["pretrain/p00", "pretrain/p01"]
    assert plan.pairs == []


@pytest.mark.bad_input
def test_outside_checkpoints_without_tasks_plan_nothing():
    with pytest.raises(UsageError) as err:
        build_plan(_recipe(**{"finetune.from_checkpoints": ["some/model"], "finetune.tasks": {}, "pretrain": None}))
    assert str(err.value) == ("Recipe grid plans no runs: it needs a 'pretrain' section with seeds.pretrain, or "
                              "finetune.from_checkpoints and at least one task under finetune.tasks.")


@pytest.mark.bad_input
@pytest.mark.parametrize("text, problem", [
    ("[1, 2]", "holds a JSON array, not an object."),
    ('{"name": 3, "recipe": {}}', ": 'name' must be a string, as `nlp-underspec run` writes it."),
    ('{"name": "grid", "recipe": [1]}', ": 'recipe' must be a mapping, as `nlp-underspec run` writes it."),
])
def test_a_manifest_of_the_wrong_shape_names_the_file(tmp_path, text, problem):
    from nlp_underspec.sweep.plan import read_manifest

    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(UsageError) as err:
        read_manifest(tmp_path)
    separator = "" if problem.startswith(":") else " "
    assert str(err.value) == (f"{tmp_path / 'manifest.json'}{separator}{problem} Restore it, or delete it and "
                              f"`nlp-underspec run` the experiment's recipe with --out {tmp_path} to rewrite it.")


@pytest.mark.bad_input
def test_a_stages_record_of_the_wrong_shape_names_the_file(tmp_path):
    from nlp_underspec.sweep.pipeline import _read_stages

    (tmp_path / "stages.json").write_text("[]")
    with pytest.raises(UsageError) as err:
        _read_stages(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'stages.json'} holds a JSON array, not an object. Delete it: it only "
                              "records which results are current, and the next `nlp-underspec run` redoes them.")
