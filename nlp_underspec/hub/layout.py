"""Where each checkpoint of a family goes on the Hub (MultiBERTs and Pythia conventions); also the cards' locator."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlp_underspec.artifacts import step_folder
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.runs import RunFolder

INTERMEDIATES = ("branches", "repos", "skip")
MAX_NAME = 96  # the Hub's limit on a repo name
COLLECTION_TITLE_MAX = 59

REPO_PREFIX_INVALID = ("Invalid --repo-prefix '{prefix}': {why}. Use ORG/NAME, e.g. my-org/tiny-bert (letters, digits, "
                       "'-', '_' and '.'); repos are named NAME-seed_0, NAME-stsb-seed_0-ft_1, ...")

_NAME_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$")


def check_repo_prefix(prefix: str) -> tuple[str, str]:
    """``(org, name)`` of a valid ``ORG/NAME`` prefix, else a UsageError that says what is wrong."""
    parts = prefix.split("/")
    why = None
    if len(parts) != 2 or not all(parts):
        why = "it must be ORG/NAME with exactly one '/'"
    elif not all(_NAME_PART.match(part) for part in parts):
        why = "only letters, digits, '-', '_' and '.' are allowed, starting with a letter or digit"
    elif any("--" in part or ".." in part for part in parts):
        why = "'--' and '..' are not allowed"
    elif parts[1].endswith(".git"):
        why = "a name cannot end in '.git'"
    elif len(parts[1]) > MAX_NAME - len("-stsb-seed_00-ft_00-step_000k"):
        why = f"NAME is too long (repo names are limited to {MAX_NAME} characters once the seed suffixes are added)"
    if why:
        raise UsageError(REPO_PREFIX_INVALID.format(prefix=prefix, why=why))
    return parts[0], parts[1]


def _step_suffix(step: int) -> str:
    """``20k`` for 20000 steps (MultiBERTs), the plain number when it is not a multiple of 1000."""
    return f"{step // 1000}k" if step % 1000 == 0 and step >= 1000 else str(step)


@dataclass(frozen=True)
class HubLayout:
    """Where each checkpoint of a family goes on the Hub; also the cards' locator (see :mod:`nlp_underspec.cards`)."""

    prefix: str
    intermediates: str = "branches"

    @property
    def namespace(self) -> str:
        return self.prefix.split("/")[0]

    @property
    def collection_title(self) -> str:
        return f"{self.prefix.split('/')[1]}: seed family"[:COLLECTION_TITLE_MAX]

    @property
    def collection(self) -> str | None:
        return f"“{self.collection_title}” ({self.namespace})"

    def repo_for(self, run: RunFolder) -> str:
        p, f = run.seed("pretrain"), run.seed("finetune")
        if run.kind == "pretrained":
            return f"{self.prefix}-seed_{p}"
        seed = f"-seed_{p}" if p is not None else ""
        return f"{self.prefix}-{run.task}{seed}-ft_{f}"

    def where(self, run: RunFolder) -> tuple[str, str | None]:
        return self.repo_for(run), None

    def step_where(self, run: RunFolder, step: int) -> tuple[str, str | None]:
        if self.intermediates == "repos":
            return f"{self.repo_for(run)}-step_{_step_suffix(step)}", None
        return self.repo_for(run), step_folder(step)

    def pattern(self, run: RunFolder) -> str:
        if run.kind == "pretrained":
            return f'f"{self.prefix}-seed_{{p}}"'
        return f'f"{self.prefix}-{run.task}-seed_{{p}}-ft_{{f}}"'

    def describe_steps(self) -> str:
        if self.intermediates == "repos":
            return "separate repos named like this one with a -step_<K> suffix"
        return "branches step_<K> of this repo"
