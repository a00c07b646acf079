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


@pytest.mark.bad_input
@pytest.mark.parametrize("name, expected", [
    ("", "r: 'name' is empty: name the experiment, e.g. name: tiny."),
    ("  ", "r: 'name' is empty: name the experiment, e.g. name: tiny."),
    ("a\nb", "r: 'name' must be a single line of printable text, got 'a\\nb'."),
])
def test_recipe_name_is_a_non_empty_single_line(name, expected):
    """`--set name=` gave an empty name, and status then printed ': 15 runs · 15 complete'."""
    assert _message(recipe_from_dict, {**BASE, "name": name}, where="r") == expected


@pytest.mark.bad_input
def test_empty_name_override_is_refused():
    data = apply_overrides(BASE, ["name="])
    assert _message(recipe_from_dict, data, where="r") == "r: 'name' is empty: name the experiment, e.g. name: tiny."


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


@pytest.mark.bad_input
def test_a_recipe_that_is_a_folder(tmp_path):
    assert _message(load_recipe, tmp_path) == (
        f"Recipe {tmp_path} is a folder, not a recipe file. Pass a YAML file, e.g. recipes/tiny.yaml.")


ALIAS_BOMB = "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10) if i else ', '.join(['x'] * 10)}]\n"
                     for i in range(9)) + "description: *a8\n"  # 10^9 values once expanded


@pytest.mark.bad_input
@pytest.mark.parametrize("text", [ALIAS_BOMB, "description: &a [1, *a]\n"], ids=["bomb", "self-reference"])
def test_aliases_that_expand_without_bound_are_refused_before_any_copy(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    assert _message(load_recipe, path, ["pretrain.lr=1"]) == (
        f"Recipe {path}: its YAML aliases (*name) expand to more than 100000 values, or refer to themselves. "
        "Write the values out instead of aliasing them.")


@pytest.mark.bad_input
def test_an_alias_bomb_in_an_override_is_refused(tmp_path):
    value = "[" + ", ".join(["&a [x, x, x, x, x, x, x, x, x, x]"] + ["*a"] * 9) + "]"
    for depth in range(6):  # each level aliases the previous one ten times: 10^7 values
        value = f"[&l{depth} {value}, " + ", ".join([f"*l{depth}"] * 9) + "]"
    text = f"seeds.pretrain={value}"
    assert _message(apply_overrides, BASE, [text]) == (
        f"Override '{text}': its YAML aliases (*name) expand to more than 100000 values, or refer to themselves. "
        "Write the values out instead of aliasing them.")


def test_aliases_of_a_sane_size_still_work(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("seeds:\n  pretrain: &s [0, 1]\n  finetune: *s\n")
    assert load_recipe(path).seeds.finetune == (0, 1)


@pytest.mark.bad_input
def test_nesting_too_deep_to_read(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("description: " + "[" * 3000 + "]" * 3000 + "\n")
    assert _message(load_recipe, path) == (
        f"Recipe {path} nests lists or mappings too deeply to read. A recipe is a few levels deep.")


SEED_RANGE = "[0, 2147483647]"


@pytest.mark.bad_input
@pytest.mark.parametrize("data, expected", [
    ({"pretrain": {"warmup_steps": -5}}, "r: 'pretrain.warmup_steps' must not be negative, got -5."),
    ({"pretrain": {"weight_decay": -1}}, "r: 'pretrain.weight_decay' must not be negative, got -1.0."),
    ({"pretrain": {"max_grad_norm": -1}}, "r: 'pretrain.max_grad_norm' must not be negative, got -1.0."),
    ({"finetune": {"tasks": {"coref": {"weight_decay": -0.1}}}},
     "r: 'finetune.tasks.coref.weight_decay' must not be negative, got -0.1."),
    ({"finetune": {"tasks": {"stsb": {"max_grad_norm": -2}}}},
     "r: 'finetune.tasks.stsb.max_grad_norm' must not be negative, got -2.0."),
    ({"pretrain": {"max_seq_length": 1}},
     "r: 'pretrain.max_seq_length' must be at least 8 (room for the special tokens), got 1."),
    ({"pretrain": {"model": {"num_hidden_layers": 0}}},
     "r: 'pretrain.model.num_hidden_layers' must be at least 1, got 0."),
    ({"pretrain": {"model": {"intermediate_size": 0}}},
     "r: 'pretrain.model.intermediate_size' must be at least 1, got 0."),
    ({"pretrain": {"model": {"hidden_size": 0}}}, "r: 'pretrain.model.hidden_size' must be at least 1, got 0."),
    ({"pretrain": {"model": {"num_attention_heads": 0}}},  # was a ZeroDivisionError in the divisibility check
     "r: 'pretrain.model.num_attention_heads' must be at least 1, got 0."),
    ({"pretrain": {"model": {"max_position_embeddings": 0}}},
     "r: 'pretrain.model.max_position_embeddings' must be at least 1, got 0."),
    ({"pretrain": {"model": {"hidden_dropout_prob": 1}}},
     "r: 'pretrain.model.hidden_dropout_prob' must be in [0, 1), got 1.0."),
    ({"pretrain": {"model": {"attention_probs_dropout_prob": -0.1}}},
     "r: 'pretrain.model.attention_probs_dropout_prob' must be in [0, 1), got -0.1."),
    ({"evaluate": {"batch_size": 0}}, "r: 'evaluate.batch_size' must be at least 1, got 0."),
    ({"evaluate": {"n_boot": 0}}, "r: 'evaluate.n_boot' must be at least 1, got 0."),
    ({"evaluate": {"n_boot": -5}}, "r: 'evaluate.n_boot' must be at least 1, got -5."),
    ({"evaluate": {"n_boot": 1_000_001}}, "r: 'evaluate.n_boot' must be at most 1,000,000, got 1,000,001: more draws "
     "change no digit reported and only exhaust memory."),
    ({"threads": 100_000}, "r: 'threads' must be at most 512, got 100,000: more threads than that cannot start (use "
     "about one per CPU core)."),
    ({"evaluate": {"tests": []}}, "r: 'evaluate.tests' is empty: a family is scored on its stress tests. Name at least "
                                  "one (e.g. [sts_gender, winogender]), or leave the key out for the default."),
    ({"evaluate": {"tests": ["winogender", "winogender"]}},
     "r: 'evaluate.tests' lists a test twice: ['winogender', 'winogender']."),
    ({"sweep": {"cpus_per_run": -1}}, "r: 'sweep.cpus_per_run' must not be negative, got -1.0."),
    ({"sweep": {"gpus_per_run": -0.5}}, "r: 'sweep.gpus_per_run' must not be negative, got -0.5."),
    ({"world": {"n_corpus_sentences": -10}}, "r: 'world.n_corpus_sentences' must be at least 1, got -10."),
    ({"world": {"n_sts_templates": 0}}, "r: 'world.n_sts_templates' must be between 1 and 280, got 0."),
    ({"world": {"neutral_share": 2.0}}, "r: 'world.neutral_share' must be in [0, 1), got 2.0."),
    ({"world": {"seed": -1}}, f"r: 'world.seed' must be an integer in {SEED_RANGE}, got -1."),
    ({"seeds": {"init_seed": -2}}, f"r: 'seeds.init_seed' must be an integer in {SEED_RANGE}, got -2."),
    ({"seeds": {"data_seed": 2**31}}, f"r: 'seeds.data_seed' must be an integer in {SEED_RANGE}, got 2147483648."),
    ({"evaluate": {"bootstrap_seed": -3}}, f"r: 'evaluate.bootstrap_seed' must be an integer in {SEED_RANGE}, got -3."),
    ({"pretrain": {"mask_seed": -1}}, f"r: 'pretrain.mask_seed' must be an integer in {SEED_RANGE}, got -1."),
    ({"seeds": {"pretrain": [0, -1]}}, f"r: 'seeds.pretrain' must hold integers in {SEED_RANGE}, got [0, -1]."),
    ({"seeds": {"finetune": [2**31]}}, f"r: 'seeds.finetune' must hold integers in {SEED_RANGE}, got [2147483648]."),
])
def test_every_number_has_a_range(data, expected):
    """Each of these used to train or score nonsense to "complete" (or fail deep in a run): refused at load."""
    data = data if "pretrain" in data else {"pretrain": {}, **data}  # a pretrain section, so its seeds are read too
    assert _message(recipe_from_dict, data, where="r") == expected


@pytest.mark.bad_input
@pytest.mark.parametrize("data, expected", [
    ({"seeds": {"pretrain": []}, "pretrain": {}},
     "r: 'seeds.pretrain' is empty, so nothing would be pretrained. List at least one seed, e.g. [0, 1, 2]."),
    ({"seeds": {"finetune": []}, "finetune": {"tasks": {"stsb": {}}}},
     "r: 'seeds.finetune' is empty, so nothing would be fine-tuned. List at least one seed, e.g. [0, 1, 2]."),
])
def test_empty_seed_lists_are_refused_where_they_are_needed(data, expected):
    assert _message(recipe_from_dict, data, where="r") == expected


def test_empty_seed_lists_are_fine_where_they_are_not_read():
    outside = recipe_from_dict({"seeds": {"pretrain": []}, "pretrain": {},
                                "finetune": {"from_checkpoints": ["some/model"], "tasks": {"stsb": {}}}})
    assert outside.seeds.pretrain == ()
    assert recipe_from_dict({"seeds": {"finetune": []}, "pretrain": {}}).seeds.finetune == ()


def test_the_shipped_recipes_and_defaults_pass_every_range():
    from pathlib import Path

    assert recipe_from_dict({"pretrain": {}}).evaluate.n_boot == 1000
    for path in sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml")):
        load_recipe(path)


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
