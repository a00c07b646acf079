"""YAML that cannot blow up: a bound on alias expansion and a refusal of keys written twice, for recipe files and
command-line override values alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nlp_underspec.errors import UsageError

RECIPE_TOO_LARGE = ("{where}: its YAML aliases (*name) expand to more than {limit} values, or refer to themselves. "
                    "Write the values out instead of aliasing them.")
DUPLICATE_KEY = ("Recipe {path}: key '{key}' is set twice, on line {first} and line {second} (YAML would silently keep "
                 "line {second}). Delete one of them.")

MAX_RECIPE_VALUES = 100_000  # values after alias expansion; real recipes hold a few hundred


def check_expanded_size(root: yaml.Node, where: str) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_RECIPE_VALUES` values (a "billion laughs" file: ten
    lines that copying or validating would blow up to all memory) or that contains itself. Counted on the composed
    nodes, where an alias is one shared node, so the count is memoised and costs one pass over the file."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in in_progress:  # an alias to an enclosing node: infinitely large once expanded
            raise UsageError(RECIPE_TOO_LARGE.format(where=where, limit=MAX_RECIPE_VALUES))
        in_progress.add(id(node))
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        if total > MAX_RECIPE_VALUES:
            raise UsageError(RECIPE_TOO_LARGE.format(where=where, limit=MAX_RECIPE_VALUES))
        in_progress.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def check_unique_keys(node: yaml.Node, path: Path, *, prefix: str, seen_nodes: set[int] | None = None) -> None:
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # an alias points at a node already checked (and may point at itself)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = f"{prefix}{key_node.value}"
                identity = (key_node.tag, key_node.value)  # 1 and '1' are different keys
                line = key_node.start_mark.line + 1
                if identity in lines:
                    raise UsageError(DUPLICATE_KEY.format(path=path, key=key, first=lines[identity], second=line))
                lines[identity] = line
                check_unique_keys(value_node, path, prefix=f"{key}.", seen_nodes=seen_nodes)
            else:
                check_unique_keys(value_node, path, prefix=prefix, seen_nodes=seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            check_unique_keys(item, path, prefix=f"{prefix.rstrip('.')}[{index}].", seen_nodes=seen_nodes)


def load_yaml_unique(text: str, path: Path) -> Any:
    """``yaml.safe_load``, but a key written twice in one mapping is an error: YAML keeps the last one silently, so a
    pasted ``max_steps`` below an old one would change a run without a word."""
    return _load_checked(text, f"Recipe {path}", unique_keys_of=path)


def load_yaml_value(raw: str, where: str) -> Any:
    """``yaml.safe_load`` with the recipe file's bound on alias expansion (an override's value)."""
    return _load_checked(raw, where)


def _load_checked(text: str, where: str, *, unique_keys_of: Path | None = None) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if unique_keys_of is not None:
            check_unique_keys(node, unique_keys_of, prefix="")
        check_expanded_size(node, where)
        return loader.construct_document(node)
    finally:
        loader.dispose()
