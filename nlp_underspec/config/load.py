"""Reading a recipe: the YAML file, its overrides, then types and ranges, into a frozen :class:`Recipe`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from nlp_underspec.config.coercion import apply_overrides, build_section
from nlp_underspec.config.schema import Recipe
from nlp_underspec.config.validation import validate_values
from nlp_underspec.config.yamlsafe import load_yaml_unique
from nlp_underspec.errors import UsageError
from nlp_underspec.textio import read_text

RECIPE_NOT_FOUND = "Recipe {path} does not exist. Recipes live in recipes/ (e.g. recipes/tiny.yaml)."
RECIPE_IS_FOLDER = "Recipe {path} is a folder, not a recipe file. Pass a YAML file, e.g. recipes/tiny.yaml."
RECIPE_TOO_DEEP = "Recipe {path} nests lists or mappings too deeply to read. A recipe is a few levels deep."
RECIPE_BAD_YAML = "Recipe {path} is not valid YAML: {error}"
RECIPE_NOT_MAPPING = "Recipe {path} must be a mapping of keys to values at the top level."


def recipe_from_dict(data: Mapping[str, Any], *, where: str = "recipe") -> Recipe:
    if not isinstance(data, Mapping):
        raise UsageError(RECIPE_NOT_MAPPING.format(path=where))
    recipe = build_section(Recipe, data, where)
    validate_values(recipe, where)
    return recipe


def read_recipe_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise UsageError(RECIPE_IS_FOLDER.format(path=path))
    if not path.is_file():
        raise UsageError(RECIPE_NOT_FOUND.format(path=path))
    text = read_text(path)
    try:
        data = load_yaml_unique(text, path)
    except yaml.YAMLError as err:
        raise UsageError(RECIPE_BAD_YAML.format(path=path, error=str(err).replace("\n", " "))) from None
    except RecursionError:  # the composer and every walk over the values recurse once per level
        raise UsageError(RECIPE_TOO_DEEP.format(path=path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(RECIPE_NOT_MAPPING.format(path=path))
    return data


def load_recipe(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, override, validate. Relative data paths stay as written (they are relative to the working directory)."""
    data = apply_overrides(read_recipe_yaml(path), list(overrides))
    return recipe_from_dict(data, where=str(path))
