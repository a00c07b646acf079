"""Recipes: YAML files resolved into frozen, validated, hashable dataclasses. The one home of configuration.

A recipe names the seed grid, the synthetic world, pretraining, fine-tuning tasks, the stress tests and how to run the
sweep. Unknown keys are errors that name the key and the closest valid one, and so is a key written twice (YAML would
keep the last one silently); types are checked (an int where a float is expected is fine, a string where a number is
expected is not). Command-line overrides use dotted keys with YAML values: ``--set pretrain.lr=3e-3 --set
seeds.pretrain=[0,1,2]``.

Modules: :mod:`.schema` (the dataclasses and their defaults), :mod:`.world` (the synthetic world's rules),
:mod:`.yamlsafe` (bounded YAML), :mod:`.coercion` (types and overrides), :mod:`.validation` (ranges and cross-field
rules), :mod:`.load` (reading a recipe), :mod:`.identity` (each run's resolved config, whose hash ``run.json``
records). This package's names below are its public API.
"""

from nlp_underspec.config.coercion import apply_overrides
from nlp_underspec.config.identity import (LATER_TASK_SETTINGS, NO_PRETRAIN, config_diff, finetune_run_config,
                                           pretrain_run_config, recipe_identity, task_identity)
from nlp_underspec.config.load import load_recipe, read_recipe_yaml, recipe_from_dict
from nlp_underspec.config.schema import (DEFAULT_VOCAB_SIZE, TASK_HEADS, TASKS, EvaluateConfig, FinetuneConfig,
                                         InterventionConfig, ModelConfig, PretrainConfig, Recipe, SeedsConfig, SweepConfig, TaskConfig,
                                         WorldConfig, task_head, task_sources, to_plain)
from nlp_underspec.config.world import DOCUMENT_KINDS, DOCUMENT_MIX, MAX_STS_TEMPLATES, check_world_values

__all__ = ["DEFAULT_VOCAB_SIZE", "DOCUMENT_KINDS", "DOCUMENT_MIX", "LATER_TASK_SETTINGS", "MAX_STS_TEMPLATES",
           "NO_PRETRAIN", "TASK_HEADS", "TASKS", "EvaluateConfig", "FinetuneConfig", "InterventionConfig", "ModelConfig", "PretrainConfig",
           "Recipe", "SeedsConfig", "SweepConfig", "TaskConfig", "WorldConfig", "apply_overrides",
           "check_world_values", "config_diff", "finetune_run_config", "load_recipe", "pretrain_run_config",
           "read_recipe_yaml", "recipe_from_dict", "recipe_identity", "task_head", "task_identity", "task_sources",
           "to_plain"]
