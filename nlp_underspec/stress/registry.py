"""The stress-test registry: tests are found by name, and users add their own without touching the package.

Three ways in: the ``@register_stress_test`` decorator (the built-in tests use it), a package's entry point in the group
``nlp_underspec.stress_tests`` (``name = "module:Class"``, loaded on first lookup), and ``load_plugin("module.path")``
(the CLI's ``--plugin``), which imports a module whose decorators register its tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import traceback
from typing import TypeVar

from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.stress.base import StressTest

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "nlp_underspec.stress_tests"
PLUGIN_NOT_FOUND = "Cannot import plugin module '{module}' ({error}). Pass an importable module path, e.g. mypkg.tests."
PLUGIN_REGISTERS_NOTHING = ("Plugin module '{module}' registered no stress test. Decorate a StressTest subclass in it "
                            "with @register_stress_test.")
PLUGIN_SYNTAX_ERROR = ("Plugin module '{module}' has a syntax error: {file}, line {line}: {error}. Fix the plugin's "
                       "code.")
PLUGIN_IMPORT_FAILED = ("Plugin module '{module}' failed while it was imported: {error_type}: {error} ({file}, line "
                        "{line}). Fix the plugin, or leave out --plugin {module}.")
NAME_TAKEN = ("Stress test name '{name}' is already registered by {current}, so {new} cannot take it. Give {new} "
              "another name (its class attribute 'name').")
NO_TESTS = "{flag} {value!r} names no stress test. Pass one or more, comma-separated, of: {available}."
ENTRY_POINT_BROKEN = "Stress-test entry point '{name}' ({value}) failed to load: {error}."

_REGISTRY: dict[str, type[StressTest]] = {}
_entry_points_loaded = False

T = TypeVar("T", bound=type[StressTest])


class NameTaken(UsageError, ValueError):
    """A second class registered under a taken name: a UsageError (a user's plugin can cause it), and a ValueError for
    callers that caught the programming error it used to be."""


def register_stress_test(cls: T) -> T:
    """Class decorator: make ``cls`` available as ``get_stress_test(cls.name)``.

    Registering a different class under a taken name (a plugin reusing a built-in's name, or two plugins that
    disagree) raises :class:`NameTaken`, naming both classes.
    """
    if not (isinstance(cls, type) and issubclass(cls, StressTest)):
        raise TypeError(f"{cls!r} is not a StressTest subclass")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__qualname__} needs a non-empty class attribute 'name'")
    current = _REGISTRY.get(name)
    # The same class imported again (a reloaded module) may re-register; a class elsewhere that only shares the
    # class name (a plugin's own "Winogender") may not replace the one registered.
    if current is not None and current is not cls and (current.__module__, current.__qualname__) != (
            cls.__module__, cls.__qualname__):
        raise NameTaken(NAME_TAKEN.format(name=name, current=f"{current.__module__}.{current.__qualname__}",
                                          new=f"{cls.__module__}.{cls.__qualname__}"))
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
    except UsageError:
        raise  # NameTaken from a decorator in the plugin: it names both classes already
    except SyntaxError as err:
        raise UsageError(PLUGIN_SYNTAX_ERROR.format(module=module, file=err.filename, line=err.lineno,
                                                    error=err.msg)) from None
    except ModuleNotFoundError as err:
        if err.name is not None and module != err.name and not module.startswith(f"{err.name}."):
            # the plugin was found, but it imports something that is not installed
            raise _import_failed(module, err) from None
        raise UsageError(PLUGIN_NOT_FOUND.format(module=module, error=err)) from None
    except ImportError as err:
        raise UsageError(PLUGIN_NOT_FOUND.format(module=module, error=err)) from None
    except Exception as err:  # noqa: BLE001 - the plugin's own code raised while importing: name where, not a traceback
        raise _import_failed(module, err) from None
    added = sorted(set(_REGISTRY) - before)
    if not added and not any(cls.__module__ == module for cls in _REGISTRY.values()):
        raise UsageError(PLUGIN_REGISTERS_NOTHING.format(module=module))
    return added


def _import_failed(module: str, err: BaseException) -> UsageError:
    """Where in the plugin's code the import failed: its innermost line in the plugin's file (the call into a library
    that raised, rather than the library's own line), else the innermost line of all."""
    frames = traceback.extract_tb(err.__traceback__)
    origin = _module_file(module)
    own = [frame for frame in frames if origin is not None and frame.filename == origin]
    frame = (own or frames or [None])[-1]
    file, line = (frame.filename, frame.lineno) if frame is not None else ("?", "?")
    return UsageError(PLUGIN_IMPORT_FAILED.format(module=module, error_type=type(err).__name__, error=err, file=file,
                                                  line=line))


def _module_file(module: str) -> str | None:
    """The plugin's source file, to pick its own line out of a traceback (the failed import left no module)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


def parse_test_names(text: str | list[str], *, flag: str = "--tests") -> list[str]:
    """``"sts_gender,winogender"`` (or a list) -> checked, de-duplicated names in the given order; none at all is an
    error (``flag`` names where they came from), not a run that writes empty results."""
    parts = text if isinstance(text, list) else text.split(",")
    names = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if not names:
        raise UsageError(NO_TESTS.format(flag=flag, value=text, available=", ".join(available_stress_tests())))
    for name in names:
        get_stress_test(name)
    return names
