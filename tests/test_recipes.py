"""The shipped recipes and accelerate configs: they load and validate, every setting carries its reason, and the
local data they point at exists in ../shared/data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nlp_underspec.config import load_recipe, pretrain_run_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
RECIPE_FILES = sorted(RECIPES.glob("*.yaml"))
ACCELERATE_FILES = sorted((RECIPES / "accelerate").glob("*.yaml"))
KEY_LINE = re.compile(r"^\s*[\w.-]+:\s*\S")  # a line that sets a value (section headers are structure, not settings)


def test_the_issue_recipes_are_shipped():
    assert {p.name for p in RECIPE_FILES} >= {"tiny.yaml", "wikitext-stsb.yaml", "minilm-stsb.yaml", "multiberts.yaml"}
    assert ACCELERATE_FILES


@pytest.mark.parametrize("path", RECIPE_FILES + ACCELERATE_FILES, ids=lambda p: p.name)
def test_every_setting_carries_its_reason(path):
    missing = [f"{path.name}:{number}: {line.strip()}" for number, line in enumerate(path.read_text().splitlines(), 1)
               if KEY_LINE.match(line) and "#" not in line and not line.rstrip().endswith(",")]  # a long list: comment at its end
    assert not missing, "settings without a '# why' comment:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.name)
def test_recipe_loads_and_validates(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    if recipe.pretrain is not None:
        assert pretrain_run_config(recipe)["pretrain"]["max_steps"] == recipe.pretrain.max_steps


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.name)
def test_local_data_paths_exist(path, shared_data):
    recipe = load_recipe(path)
    from nlp_underspec.config import task_sources

    sources = [source for task in recipe.finetune.tasks.values()
               for source in (*task_sources(task), *(task.dev_data or {}).values())]
    sources += [recipe.evaluate.stsb, recipe.evaluate.winogender]
    if recipe.pretrain is not None:
        sources.append(recipe.pretrain.corpus)
    local = [s for s in sources if s.startswith("../shared/data/")]
    for source in local:
        assert (shared_data / source[len("../shared/data/"):]).exists(), source


@pytest.mark.parametrize("path", ACCELERATE_FILES, ids=lambda p: p.name)
def test_accelerate_configs_are_valid(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))  # what `accelerate launch --config_file` reads
    assert config.num_processes >= 1 and str(config.mixed_precision) in ("no", "bf16", "fp16")
    assert set(yaml.safe_load(path.read_text())) <= set(vars(config))  # no key accelerate would ignore


def test_tiny_recipe_is_the_demo_grid():
    """Enough seeds to tell (power 0.97 to exclude ICC = 0 at a true 0.8 needs >= 8 x 3), the heads through which a
    resolver can inherit the encoder's prior, and the curriculum that makes the statistic learnable."""
    recipe = load_recipe(RECIPES / "tiny.yaml")
    assert len(recipe.seeds.pretrain) >= 8 and len(recipe.seeds.finetune) >= 3
    assert recipe.finetune.tasks["coref"].head == "ranking" and recipe.finetune.tasks["stsb"].head == "bi_encoder"
    assert recipe.pretrain.curriculum_steps > 0 and recipe.pretrain.curriculum_documents == ("probe",)
    assert set(recipe.finetune.tasks) == {"stsb", "coref"}
    assert set(recipe.evaluate.tests) == {"sts_gender", "winogender"}
    assert recipe.pretrain.corpus == "synthetic" and recipe.evaluate.winogender == "synthetic"
