"""The card templates (``model_cards/*.md.j2``) and how they are rendered: the outer card through
``huggingface_hub``'s ``ModelCard.from_template``, each section through one strict Jinja environment."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

from nlp_underspec.errors import UsageError

TEMPLATES_NOT_FOUND = ("The card templates (model_cards/*.md.j2) are missing from this installation of nlp_underspec. "
                       "Reinstall the package (pip install --force-reinstall nlp_underspec).")


def templates_dir() -> Path:
    """The card templates: installed as package data, or the repository's model_cards/ in a source checkout."""
    candidates = [Path(str(resources.files("nlp_underspec").joinpath("model_cards"))),
                  Path(__file__).resolve().parents[2] / "model_cards"]
    for folder in candidates:
        if (folder / "checkpoint.md.j2").is_file():
            return folder
    raise UsageError(TEMPLATES_NOT_FOUND)


@functools.lru_cache(maxsize=1)
def _section_env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                              autoescape=False)


def render_section(name: str, **context: Any) -> str:
    """``section_<name>.md.j2`` rendered with ``context``."""
    return _section_env().get_template(f"section_{name}.md.j2").render(**context)


def outer_template(name: str) -> str:
    """The text of ``<name>.md.j2`` (checkpoint or family), for ``ModelCard.from_template``."""
    return (templates_dir() / f"{name}.md.j2").read_text(encoding="utf-8")
