"""The package's shape, checked: imports run one way through the layers of docs/design.md, modules and functions stay
small, and only the stress layer (plus the recipe defaults) names a stress test.

These read the source as text and syntax trees; nothing is imported or run, so they are fast and offline.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nlp_underspec"

# docs/design.md, "Layers": a module may import from its own layer and the layers before it, never after.
LAYERS = (
    ("foundation", ("__init__", "errors", "textio", "io", "locks", "seeding", "tables", "formatting", "artifacts",
                    "records", "triplet")),
    ("config", ("config",)),
    ("data", ("data", "synthetic")),
    ("models and training", ("models", "training")),
    ("stress tests", ("stress",)),
    ("evaluation", ("evaluation", "results", "stored_results", "compression", "compression_iid")),
    ("analysis", ("analysis",)),
    ("experiment read model", ("experiment",)),
    ("presentation", ("report", "cards")),
    ("hub", ("hub",)),
    ("sweep and commands", ("sweep", "commands", "cli", "__main__")),
)
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
TEST_NAMES = ("sts_gender", "winogender")
# The recipe's defaults list the tests a recipe runs when it names none: the one place outside the stress layer.
MAY_NAME_TESTS = {"config/schema.py"}
MAX_FILES_NAMING_TESTS = 2


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def _layer(dotted: str) -> int:
    if dotted.split(".")[-1] == "__main__":
        return len(LAYERS) - 1  # an entry point (python -m ...) is a command, whatever package it sits in
    top = dotted.split(".")[0]
    for index, (_, tops) in enumerate(LAYERS):
        if top in tops:
            return index
    raise AssertionError(f"nlp_underspec.{dotted} belongs to no layer of docs/design.md; add its top-level name to "
                         "LAYERS here and to the page.")


def _internal_imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module below nlp_underspec) of every import in ``path``, at any depth (function-level too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name == "nlp_underspec":
                found.append((node.lineno, "__init__"))
            elif name.startswith("nlp_underspec."):
                found.append((node.lineno, name.removeprefix("nlp_underspec.")))
    return found


def test_imports_run_one_way_through_the_layers():
    against = []
    for path in _modules():
        own = _layer(_dotted(path))
        for line, imported in _internal_imports(path):
            if _layer(imported) > own:
                against.append(f"{path.relative_to(PACKAGE)}:{line} ({LAYERS[own][0]}) imports {imported} "
                               f"({LAYERS[_layer(imported)][0]})")
    assert against == []


def test_relative_imports_are_not_used():
    # Absolute imports are what the layer check reads; a relative one would slip past it.
    relative = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in _modules()
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert relative == []


def test_modules_stay_small():
    long = {str(path.relative_to(PACKAGE)): n for path in _modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_functions_stay_small():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = n
    assert long == {}


def test_only_the_stress_layer_names_a_stress_test():
    naming = sorted(str(path.relative_to(PACKAGE)) for path in _modules()
                    if not path.relative_to(PACKAGE).parts[0] == "stress"
                    and any(name in path.read_text(encoding="utf-8") for name in TEST_NAMES))
    assert set(naming) <= MAY_NAME_TESTS and len(naming) <= MAX_FILES_NAMING_TESTS, naming


@pytest.mark.parametrize("pointer", ["DESIGN.md", "HF-NOTES", "SCIENCE.md", "STYLE.md", "../shared"])
def test_comments_do_not_point_outside_the_repository(pointer):
    pointing = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*")
                if path.is_file() and path.suffix in {".py", ".md", ".j2"}
                and pointer in path.read_text(encoding="utf-8")]
    assert pointing == []
