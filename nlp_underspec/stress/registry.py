"""The stress-test registry: tests are found by name, and users add their own without touching the package.

Three ways in: the ``@register_stress_test`` decorator (the built-in tests use it), a package's entry point in the group
``nlp_underspec.stress_tests`` (``name = "module:Class"``, loaded on first lookup), and ``load_plugin("module.path")``
(the CLI's ``--plugin``), which imports a module whose decorators register its tests.
"""

from __future__ import annotations

import importlib
import logging
from typing import TypeVar

from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.stress.base import StressTest

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "nlp_underspec.stress_tests"
PLUGIN_NOT_FOUND = "Cannot import plugin module '{module}' ({error}). Pass an importable module path, e.g. mypkg.tests."
PLUGIN_REGISTERS_NOTHING = ("Plugin module '{module}' registered no stress test. Decorate a StressTest subclass in it "
                            "with @register_stress_test.")
ENTRY_POINT_BROKEN = "Stress-test entry point '{name}' ({value}) failed to load: {error}."

_REGISTRY: dict[str, type[StressTest]] = {}
_entry_points_loaded = False

T = TypeVar("T", bound=type[StressTest])


def register_stress_test(cls: T) -> T:
    """Class decorator: make ``cls`` available as ``get_stress_test(cls.name)``.

    Registering a different class under a taken name is a programming error (two plugins disagree), so it raises.
    """
    if not (isinstance(cls, type) and issubclass(cls, StressTest)):
        raise TypeError(f"{cls!r} is not a StressTest subclass")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__qualname__} needs a non-empty class attribute 'name'")
    current = _REGISTRY.get(name)
    if current is not None and current is not cls and current.__qualname__ != cls.__qualname__:
        raise ValueError(f"stress test name {name!r} is already registered by {current.__module__}.{current.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def unregister_stress_test(name: str) -> None:
    """Remove a registration (for tests and interactive sessions)."""
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _REGISTRY:
            continue
        try:
            cls = entry_point.load()
        except Exception as err:  # a broken third-party package must not hide the built-in tests
            logger.warning(ENTRY_POINT_BROKEN.format(name=entry_point.name, value=entry_point.value, error=err))
            continue
        if isinstance(cls, type) and issubclass(cls, StressTest):
            register_stress_test(cls)


def available_stress_tests() -> list[str]:
    """Registered names, sorted (built-ins, entry points, loaded plugins)."""
    _load_entry_points()
    return sorted(_REGISTRY)


def get_stress_test(name: str) -> StressTest:
    """A fresh instance of the test registered as ``name``; unknown names raise "Did you mean ...? Available: ...".

    >>> get_stress_test("winogender").name
    'winogender'
    """
    _load_entry_points()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise UsageError(unknown_name_message("stress test", name, _REGISTRY))
    return cls()


def load_plugin(module: str) -> list[str]:
    """Import ``module`` so its ``@register_stress_test`` decorators run; return the names it added."""
    before = set(_REGISTRY)
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise UsageError(PLUGIN_NOT_FOUND.format(module=module, error=err)) from None
    added = sorted(set(_REGISTRY) - before)
    if not added and not any(cls.__module__ == module for cls in _REGISTRY.values()):
        raise UsageError(PLUGIN_REGISTERS_NOTHING.format(module=module))
    return added


def parse_test_names(text: str | list[str]) -> list[str]:
    """``"sts_gender,winogender"`` (or a list) -> checked, de-duplicated names in the given order."""
    parts = text if isinstance(text, list) else text.split(",")
    names = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    for name in names:
        get_stress_test(name)
    return names
