"""The sweep and the commands ask the registry (data option, splits, pretrained tests) instead of naming a test: a
test registered here gets its data flag, its recipe key and its place among the pretrained checkpoints' tests."""

from __future__ import annotations

import argparse

import pytest

from nlp_underspec.commands.options import add_data_options, data_options, data_overrides
from nlp_underspec.config import load_recipe
from nlp_underspec.stress import MetricInfo, StressTest, register_stress_test, unregister_stress_test
from nlp_underspec.sweep.pipeline import _recipe_sources, _split, bootstrap_seed, pretrained_tests


class ToyProbe(StressTest):
    name = "toy_probe_data"
    metrics = {"score": MetricInfo("a toy number", True, (0.0, 1.0))}
    data_option = "toy_data"
    data_help = "a toy file"
    data_splits = ("a", "b")
    default_split = "b"
    runs_on_pretrained = True
    default_source = "toy.tsv"


@pytest.fixture
def toy():
    register_stress_test(ToyProbe)
    yield ToyProbe
    unregister_stress_test(ToyProbe.name)


def test_the_built_in_tests_get_the_flags_they_always_had():
    assert data_options() == {"stsb": "sts_gender", "winogender": "winogender"}
    parser = argparse.ArgumentParser()
    add_data_options(parser, recipe_key=True)
    args = parser.parse_args(["--stsb", "x.csv"])
    assert data_overrides(args) == [("evaluate.stsb", "x.csv"), ("evaluate.winogender", None)]


def test_a_registered_test_gets_its_data_and_split_flags(toy):
    parser = argparse.ArgumentParser()
    add_data_options(parser)
    args = parser.parse_args(["--toy_data", "t.tsv", "--toy_data-split", "a"])
    assert (args.toy_data, args.toy_data_split) == ("t.tsv", "a")


def test_the_pretrained_checkpoints_tests_keep_their_order(toy):
    """The order is the order of the pretrained/ triplets and scores: the recipe's tests first, as before."""
    unregister_stress_test(ToyProbe.name)
    assert pretrained_tests(("sts_gender", "winogender")) == ["winogender", "calibration"]
    assert pretrained_tests(("sts_gender",)) == ["calibration"]
    register_stress_test(ToyProbe)
    assert pretrained_tests(("sts_gender", "winogender")) == ["winogender", "calibration", "toy_probe_data"]


def test_the_recipe_sources_splits_and_bootstrap_seed_are_what_they_were():
    recipe = load_recipe("recipes/tiny.yaml")
    sources = _recipe_sources(recipe)
    assert {test: sources[test] for test in ("sts_gender", "winogender", "calibration")} == {
        "sts_gender": "synthetic", "winogender": "synthetic", "calibration": "synthetic"}
    assert (_split(recipe, "sts_gender"), _split(recipe, "winogender"), _split(recipe, "calibration")) == (
        "test", None, None)
    assert bootstrap_seed(recipe) == recipe.world.seed == 0


def test_the_bootstrap_seed_is_its_own_setting_and_unset_keeps_the_old_hash():
    from nlp_underspec.config import load_recipe as load
    from nlp_underspec.sweep.plan import recipe_hash

    recipe = load("recipes/tiny.yaml")
    chosen = load("recipes/tiny.yaml", overrides=["evaluate.bootstrap_seed=7"])
    assert (bootstrap_seed(recipe), bootstrap_seed(chosen)) == (0, 7)
    # Unset, the key is no part of the experiment's identity: folders made before it keep their hash.
    assert recipe_hash(recipe) == "c8f7e69af59dabbe" != recipe_hash(chosen)
