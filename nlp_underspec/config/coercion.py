"""From raw YAML values to the schema's dataclasses: type checks with messages that name the key and the closest
valid one, and ``KEY=VALUE`` overrides merged into a raw recipe before it is checked.

An int where a float is expected is fine, a string where a number is expected is not; lists become tuples and
mappings become dataclasses. Override values are YAML: ``--set pretrain.lr=3e-3 --set seeds.pretrain=[0,1,2]``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Iterable, Mapping

import yaml

from nlp_underspec.config.schema import TASKS, FinetuneConfig, Recipe, TaskConfig
from nlp_underspec.config.yamlsafe import load_yaml_value
from nlp_underspec import errors
from nlp_underspec.errors import UsageError

UNKNOWN_KEY = "{where}: unknown key '{key}'.{hint} Valid keys{section}: {valid}."
WRONG_TYPE = "{where}: '{key}' must be {expected}, got {value!r}."
BAD_OVERRIDE = "Override '{text}' must look like KEY=VALUE, e.g. pretrain.lr=3e-3."
UNKNOWN_TASK = "{where}: unknown task '{key}'.{hint} Available: {valid}."


# Recipe keys are short (lr, seed): a looser match than the registry lookups' still finds the intended one.
KEY_CUTOFF = 0.5


def did_you_mean(name: str, choices: Iterable[str], prefix: str = "") -> str:
    """:func:`nlp_underspec.errors.did_you_mean` at the looser cutoff of recipe keys."""
    return errors.did_you_mean(name, choices, cutoff=KEY_CUTOFF, prefix=prefix)


def unknown_task(where: str, task: str, suggest_from: Iterable[str], valid: str) -> UsageError:
    return UsageError(UNKNOWN_TASK.format(where=where, key=task, hint=did_you_mean(str(task), suggest_from),
                                          valid=valid))


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin is tuple:
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(typing.get_args(tp)[0], "values")
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples, mappings to dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(value, inner[0], where, key)
        # `str | tuple[str, ...]` (a task's data): the list form for a list, else the first; the error names both
        chosen = next((a for a in inner if (typing.get_origin(a) is tuple) == isinstance(value, (list, tuple))), inner[0])
        try:
            return _coerce(value, chosen, where, key)
        except UsageError:
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected=_type_name(tp).removesuffix(" or null"),
                                               value=value)) from None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a mapping", value=value))
        return _build(tp, value, where, prefix=f"{key}.")
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # `seeds.pretrain=3` means [3]
        if not isinstance(value, (list, tuple)):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected=_type_name(tp), value=value))
        return tuple(_coerce(v, item_tp, where, key) for v in value)
    if origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a mapping", value=value))
        return {str(k): _coerce(v if v is not None else {}, value_tp, where, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="true or false", value=value))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="an integer", value=value))
        return value
    if tp is float:
        if isinstance(value, str):
            try:  # YAML 1.1 reads "3e-3" as a string; accept what is plainly a number
                value = float(value)
            except ValueError:
                pass
        # .nan and .inf are YAML floats, but no setting of a recipe means anything at them (an infinite lr trains a
        # NaN model; a NaN ratio passes every range check, since every comparison with NaN is false).
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a finite number", value=value))
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UsageError(WRONG_TYPE.format(where=where, key=key, expected="a string", value=value))
        return value
    raise TypeError(f"unsupported config annotation {tp!r}")


def _unknown_key(where: str, key: str, valid: list[str], section: str) -> UsageError:
    prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
    hint = did_you_mean(key.split(".")[-1], valid, prefix)
    return UsageError(UNKNOWN_KEY.format(where=where, key=key, hint=hint,
                                         section=f" in '{section}'" if section else "", valid=", ".join(valid)))


def _build(cls: type, data: Mapping[str, Any], where: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            raise _unknown_key(where, f"{prefix}{key}", valid, prefix.rstrip("."))
        if cls is FinetuneConfig and key == "tasks" and isinstance(value, Mapping):
            for task in value:
                if task not in TASKS:
                    raise unknown_task(where, task, TASKS, ", ".join(TASKS))
        kwargs[key] = _coerce(value, hints[key], where, f"{prefix}{key}")
    return cls(**kwargs)


def build_section(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """``cls`` (a schema dataclass) from a raw mapping, every value type-checked and converted."""
    return _build(cls, data, where)


# ------------------------------------------------------------------------------------------------------- overrides


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text or text.startswith("="):
        raise UsageError(BAD_OVERRIDE.format(text=text))
    key, raw = text.split("=", 1)
    try:
        value = load_yaml_value(raw, f"Override '{text}'") if raw.strip() else ""
    except (yaml.YAMLError, RecursionError):
        value = raw
    return key.strip().split("."), value


def _check_override_path(path: list[str], where: str) -> None:
    """Reject an override key that names nothing, before merging, so the message shows the whole dotted key."""
    cls: Any = Recipe
    for depth, part in enumerate(path):
        if cls is None:
            return
        if dataclasses.is_dataclass(cls):
            hints = typing.get_type_hints(cls)
            if part not in hints:
                raise _unknown_key(where, ".".join(path[: depth + 1]), [f.name for f in dataclasses.fields(cls)],
                                   ".".join(path[:depth]))
            tp = hints[part]
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if typing.get_origin(tp) in (typing.Union, types.UnionType) and args:
                tp = args[0]
            if typing.get_origin(tp) is dict:
                cls = "tasks"
            else:
                cls = tp if dataclasses.is_dataclass(tp) else None
        elif cls == "tasks":
            if part not in TASKS:
                raise unknown_task(where, part, TASKS, ", ".join(TASKS))
            cls = TaskConfig


def apply_overrides(data: dict[str, Any], overrides: list[str], where: str = "command line") -> dict[str, Any]:
    """Merge ``KEY=VALUE`` overrides into a raw recipe mapping (before validation)."""
    data = _deep_copy(data)
    for text in overrides:
        path, value = _parse_override(text)
        _check_override_path(path, f"{where} override '{text}'")
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return data


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
