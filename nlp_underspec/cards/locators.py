"""Where a checkpoint can be loaded from, as the cards' loading snippets need it: a *locator*. :class:`LocalLocator`
(folders of the experiment) is here; :class:`nlp_underspec.hub.HubLayout` (repos and branches on the Hub) is the
other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nlp_underspec.experiment.runs import RunFolder


class Locator(Protocol):
    """Where checkpoints live (local folders or Hub repos), as the cards' loading snippets need it."""

    def where(self, run: RunFolder) -> tuple[str, str | None]: ...

    def step_where(self, run: RunFolder, step: int) -> tuple[str, str | None]: ...

    def pattern(self, run: RunFolder) -> str: ...

    def describe_steps(self) -> str: ...

    @property
    def collection(self) -> str | None: ...


@dataclass(frozen=True)
class LocalLocator:
    """Checkpoints as folders of the experiment (cards written before anything is pushed)."""

    root: Path

    def where(self, run: RunFolder) -> tuple[str, str | None]:
        return str(run.path), None

    def step_where(self, run: RunFolder, step: int) -> tuple[str, str | None]:
        return str(run.path / f"step_{step}"), None

    def pattern(self, run: RunFolder) -> str:
        """A Python f-string over ``p`` (and ``f``) that names every sibling folder."""
        if run.kind == "pretrained":
            return f'f"{self.root / "pretrain"}/p{{p:02d}}"'
        return f'f"{self.root / "finetune" / str(run.task)}/p{{p:02d}}-f{{f:02d}}"'

    def describe_steps(self) -> str:
        return "folders step_<K> inside the checkpoint folder"

    @property
    def collection(self) -> str | None:
        return None
