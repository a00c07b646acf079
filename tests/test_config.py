"""Recipe configuration: unknown keys with did-you-mean, types, overrides, and per-run resolved configs."""

from __future__ import annotations

import pytest

from nlp_underspec import config
from nlp_underspec.config import (apply_overrides, config_diff, finetune_run_config, load_recipe, pretrain_run_config,
                                  recipe_from_dict)
from nlp_underspec.errors import UsageError
from nlp_underspec.records import config_hash

BASE = {"name": "t", "pretrain": {"max_steps": 10}, "finetune": {"tasks": {"stsb": {}, "coref": {"data": "gap.jsonl"}}}}


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as err:
        fn(*args, **kwargs)
    return str(err.value)


@pytest.mark.bad_input
def test_unknown_key_names_closest_valid_key():
    message = _message(recipe_from_dict, {"pretrain": {"max_stpes": 5}}, where="r.yaml")
    assert message.startswith("r.yaml: unknown key 'pretrain.max_stpes'. Did you mean 'pretrain.max_steps'? "
                              "Valid keys in 'pretrain': corpus, corpus_config,")


@pytest.mark.bad_input
def test_unknown_top_level_key_without_close_match():
    message = _message(recipe_from_dict, {"zzz": 1}, where="r.yaml")
    assert message.startswith("r.yaml: unknown key 'zzz'. Valid keys: name, threads, log_with, seeds,")


@pytest.mark.bad_input
def test_unknown_key_in_a_recipe_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("seeds:\n  pretrian: [0, 1]\n")
    message = _message(load_recipe, path)
    assert message == (f"{path}: unknown key 'seeds.pretrian'. Did you mean 'seeds.pretrain'? Valid keys in 'seeds': "
                       "pretrain, finetune, init_seed, data_seed.")


@pytest.mark.bad_input
@pytest.mark.parametrize("data, expected", [
    ({"pretrain": {"lr": "fast"}}, "r: 'pretrain.lr' must be a finite number, got 'fast'."),
    ({"pretrain": {"lr": float("inf")}}, "r: 'pretrain.lr' must be a finite number, got inf."),
    ({"finetune": {"tasks": {"stsb": {"warmup_ratio": float("nan")}}}},
     "r: 'finetune.tasks.stsb.warmup_ratio' must be a finite number, got nan."),
    ({"pretrain": {"lr": "1e999"}}, "r: 'pretrain.lr' must be a finite number, got inf."),
    ({"pretrain": {"max_steps": 1.5}}, "r: 'pretrain.max_steps' must be an integer, got 1.5."),
    ({"pretrain": {"pack": "yes"}}, "r: 'pretrain.pack' must be true or false, got 'yes'."),
    ({"seeds": {"pretrain": "0,1"}}, "r: 'seeds.pretrain' must be a list of integers, got '0,1'."),
    ({"pretrain": {"model": 3}}, "r: 'pretrain.model' must be a mapping, got 3."),
    ({"threads": True}, "r: 'threads' must be an integer, got True."),
])
def test_wrong_type(data, expected):
    assert _message(recipe_from_dict, data, where="r") == expected


def test_numbers_as_yaml_strings_and_ints_for_floats_are_accepted():
    recipe = recipe_from_dict({"pretrain": {"lr": "3e-3", "weight_decay": 0}})
    assert recipe.pretrain.lr == 0.003 and recipe.pretrain.weight_decay == 0.0


@pytest.mark.bad_input
def test_unknown_task_suggests_the_closest():
    message = _message(recipe_from_dict, {"finetune": {"tasks": {"stbs": {}}}}, where="r")
    assert message == "r: unknown task 'stbs'. Did you mean 'stsb'? Available: stsb, coref."


@pytest.mark.bad_input
@pytest.mark.parametrize("data, expected", [
    ({"world": {"bias_strength": 1.5}}, "r: 'world.bias_strength' must be in [0, 1], got 1.5."),
    ({"pretrain": {"batch_size": 10, "grad_accum": 3}},
     "r: 'pretrain.batch_size' (10) must be divisible by pretrain.grad_accum (3)."),
    ({"pretrain": {"max_steps": 10, "checkpoint_steps": [5, 20]}},
     "r: 'pretrain.checkpoint_steps' must lie in [1, pretrain.max_steps=10], got [5, 20]."),
    ({"seeds": {"pretrain": [1, 1]}}, "r: 'seeds.pretrain' lists a seed twice: [1, 1]."),
    ({"finetune": {"tasks": {"stsb": {"warmup_ratio": 1.0}}}},
     "r: 'finetune.tasks.stsb.warmup_ratio' must be in [0, 1), got 1.0."),
    ({"finetune": {"tasks": {"coref": {"batch_size": 8, "grad_accum": 3}}}},
     "r: 'finetune.tasks.coref.batch_size' (8) must be a positive multiple of finetune.tasks.coref.grad_accum (3)."),
])
def test_bad_values(data, expected):
    assert _message(recipe_from_dict, data, where="r") == expected


def test_overrides_parse_yaml_values():
    data = apply_overrides(BASE, ["pretrain.lr=3e-3", "seeds.pretrain=[0,1,2]", "pretrain.pack=false",
                                  "finetune.tasks.stsb.max_steps=7", "world.bias_strength=0", "seeds.finetune=4"])
    recipe = recipe_from_dict(data)
    assert recipe.pretrain.lr == 0.003
    assert recipe.seeds.pretrain == (0, 1, 2) and recipe.seeds.finetune == (4,)
    assert recipe.pretrain.pack is False
    assert recipe.finetune.tasks["stsb"].max_steps == 7
    assert recipe.world.bias_strength == 0.0
    assert BASE["pretrain"] == {"max_steps": 10}  # the input mapping is not mutated


@pytest.mark.bad_input
def test_override_with_unknown_key_names_the_override():
    message = _message(apply_overrides, BASE, ["pretrain.model.hiden_size=32"])
    assert message.startswith("command line override 'pretrain.model.hiden_size=32': unknown key "
                              "'pretrain.model.hiden_size'. Did you mean 'pretrain.model.hidden_size'?")


@pytest.mark.bad_input
def test_override_of_unknown_task():
    assert _message(apply_overrides, BASE, ["finetune.tasks.nli.lr=1"]) == (
        "command line override 'finetune.tasks.nli.lr=1': unknown task 'nli'. Available: stsb, coref.")


@pytest.mark.bad_input
@pytest.mark.parametrize("text", ["pretrain.lr", "=3"])
def test_malformed_override(text):
    assert _message(apply_overrides, BASE, [text]) == (
        f"Override '{text}' must look like KEY=VALUE, e.g. pretrain.lr=3e-3.")


@pytest.mark.bad_input
def test_missing_and_malformed_recipe_files(tmp_path):
    assert _message(load_recipe, tmp_path / "nope.yaml") == (
        f"Recipe {tmp_path / 'nope.yaml'} does not exist. Recipes live in recipes/ (e.g. recipes/tiny.yaml).")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert _message(load_recipe, listed) == f"Recipe {listed} must be a mapping of keys to values at the top level."
    broken = tmp_path / "broken.yaml"
    broken.write_text("pretrain: [1, 2\n")
    assert _message(load_recipe, broken).startswith(f"Recipe {broken} is not valid YAML: ")


def test_pretrain_config_ignores_finetuning_and_evaluation_settings():
    base = recipe_from_dict(BASE)
    changed = recipe_from_dict(apply_overrides(BASE, ["finetune.tasks.stsb.lr=1e-3", "evaluate.n_boot=10",
                                                      "seeds.finetune=[0,1,2]", "sweep.jobs=4", "log_with=[tensorboard]"]))
    assert config_hash(pretrain_run_config(base)) == config_hash(pretrain_run_config(changed))
    assert config_hash(pretrain_run_config(base)) != config_hash(
        pretrain_run_config(recipe_from_dict(apply_overrides(BASE, ["pretrain.lr=1e-3"]))))


def test_seeds_are_not_in_run_configs():
    base = recipe_from_dict(BASE)
    other = recipe_from_dict(apply_overrides(BASE, ["seeds.pretrain=[5,6]", "seeds.init_seed=3"]))
    assert pretrain_run_config(base) == pretrain_run_config(other)
    assert finetune_run_config(base, "stsb", parent="abc") == finetune_run_config(other, "stsb", parent="abc")


def test_finetune_configs_are_separate_per_task_and_parent():
    base = recipe_from_dict(BASE)
    changed = recipe_from_dict(apply_overrides(BASE, ["finetune.tasks.coref.lr=1e-3"]))
    assert finetune_run_config(base, "stsb", parent="abc") == finetune_run_config(changed, "stsb", parent="abc")
    assert finetune_run_config(base, "coref", parent="abc") != finetune_run_config(changed, "coref", parent="abc")
    assert finetune_run_config(base, "stsb", parent="abc") != finetune_run_config(base, "stsb", parent="xyz")


def test_world_enters_a_run_config_only_when_a_source_is_synthetic():
    base = recipe_from_dict(BASE)
    weaker = recipe_from_dict(apply_overrides(BASE, ["world.bias_strength=0.5"]))
    assert pretrain_run_config(base) != pretrain_run_config(weaker)  # corpus: synthetic
    assert finetune_run_config(base, "stsb", parent="p") != finetune_run_config(weaker, "stsb", parent="p")
    assert finetune_run_config(base, "coref", parent="p") == finetune_run_config(weaker, "coref", parent="p")


@pytest.mark.bad_input
def test_finetune_config_for_a_task_the_recipe_lacks():
    recipe = recipe_from_dict({"finetune": {"tasks": {"stsb": {}}}})
    assert _message(finetune_run_config, recipe, "coref", parent="p") == (
        "finetune: unknown task 'coref'. Available: stsb.")


@pytest.mark.bad_input
def test_no_pretrain_section():
    assert _message(pretrain_run_config, recipe_from_dict({})) == config.NO_PRETRAIN


def test_config_diff_names_nested_keys():
    old = {"pretrain": {"lr": 1, "model": {"hidden_size": 64}}, "threads": 2}
    new = {"pretrain": {"lr": 2, "model": {"hidden_size": 64}}, "threads": 1, "world": None}
    assert config_diff(old, new) == ["pretrain.lr", "threads", "world"]
