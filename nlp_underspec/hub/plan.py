"""What a push uploads: every (repo, revision) of a family's checkpoints, and the files of each (no cards here)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp_underspec import records
from nlp_underspec.artifacts import STAGES, step_folder
from nlp_underspec.cards.eval_results import EVAL_RESULTS, checkpoint_eval_results
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.family import Family
from nlp_underspec.experiment.runs import RunFolder
from nlp_underspec.hub.layout import INTERMEDIATES, HubLayout, check_repo_prefix

MAIN = "main"
FAMILY_FILE = "FAMILY.md"
PLAN_FILE = "push_plan.json"
CARD_FILE = "README.md"  # the model card of every repo

NOTHING_TO_PUSH = ("{root} has no complete run folders (pretrain/p*/ or finetune/<task>/p*-f*/) to push. Train the family "
                   "with `nlp-underspec run` first, or publish an evaluated model's card with `nlp-underspec card`.")
LINK_IN_RUN = ("Refusing to push: {path} is a symbolic link (to {target}), and a push would upload the file it "
               "points to, which may lie outside the family. A run folder holds its own files: replace the link with "
               "the file, or move it out of the run folder.")

_CHECKPOINT_FILE = re.compile(r".+\.(json|safetensors|txt|model|bin)$")
_NOT_WEIGHTS = ("optimizer", "scheduler", "random_states", "rng_state", "training_args", "trainer_state")
_NOT_PUBLISHED = {"log.txt", STAGES}  # training logs hold local paths and timings, not the model


@dataclass(frozen=True)
class PushTarget:
    """One folder to upload: a checkpoint and its card, to one revision of one repo."""

    repo_id: str
    revision: str
    run: RunFolder
    step: int | None = None

    @property
    def source(self) -> Path:
        return self.run.path if self.step is None else self.run.path / step_folder(self.step)

    @property
    def folder_name(self) -> str:
        """The staging folder: ``NAME`` for main, ``NAME@step_100`` for a branch."""
        name = self.repo_id.split("/")[1]
        return name if self.revision == MAIN else f"{name}@{self.revision}"

    def describe(self) -> str:
        where = "" if self.revision == MAIN else f" @ {self.revision}"
        step = "" if self.step is None else f" step {self.step}"
        return f"{self.repo_id}{where} ({self.run.label}{step})"


@dataclass
class PushPlan:
    family: Family
    layout: HubLayout
    private: bool
    targets: list[PushTarget] = field(default_factory=list)

    def repos(self) -> list[str]:
        return list(dict.fromkeys(t.repo_id for t in self.targets))

    def branches(self) -> list[tuple[str, str]]:
        return [(t.repo_id, t.revision) for t in self.targets if t.revision != MAIN]


def plan_push(family: Family, *, repo_prefix: str, intermediates: str = "branches", private: bool = False) -> PushPlan:
    """Every (repo, revision) the family's checkpoints go to, in upload order."""
    check_repo_prefix(repo_prefix)
    if intermediates not in INTERMEDIATES:
        raise UsageError(f"--intermediates must be one of {', '.join(INTERMEDIATES)}, got '{intermediates}'.")
    if not family.runs:
        raise UsageError(NOTHING_TO_PUSH.format(root=family.root))
    check_publishable(family)
    layout = HubLayout(repo_prefix, intermediates)
    plan = PushPlan(family, layout, private)
    for run in family.runs:
        plan.targets.append(PushTarget(layout.repo_for(run), MAIN, run))
        if intermediates == "skip":
            continue
        for step, _ in run.steps:
            repo, revision = layout.step_where(run, step)
            plan.targets.append(PushTarget(repo, revision or MAIN, run, step))
    for repo in plan.repos():
        check_repo_prefix(repo)  # the suffixes must keep every name valid too
    return plan


def check_publishable(family: Family) -> None:
    """Refuse run folders a push would misdescribe: one without its model, one whose run.json disagrees with its
    folder name (repo and card would follow the record's seeds, the results the folder's), and two holding the
    same weights (two "different" seeds that are one model)."""
    for run in family.runs:  # (a run.json that disagrees with its folder name is refused by discover_runs)
        records.check_holds_model(run.path)
    copies = records.same_weights(run.path for run in family.runs)
    if copies:
        first, second = copies[0]
        raise UsageError(records.SAME_WEIGHTS.format(first=first, second=second, file=_weights_name(second)))


def _weights_name(folder: Path) -> str:
    return ", ".join(sorted(p.name for p in folder.glob("*.safetensors"))) or "pytorch_model.bin"


def plan_summary(plan: PushPlan) -> dict[str, Any]:
    """What the push will do, as JSON (written beside a dry run's folders; never holds the token)."""
    return {"repo_prefix": plan.layout.prefix, "private": plan.private, "intermediates": plan.layout.intermediates,
            "repos": plan.repos(), "branches": [f"{repo}@{rev}" for repo, rev in plan.branches()],
            "collection": {"namespace": plan.layout.namespace, "title": plan.layout.collection_title,
                           "items": plan.repos()},
            "targets": [{"repo_id": t.repo_id, "revision": t.revision, "folder": t.folder_name, "run": t.run.label,
                         "step": t.step, "files": sorted(name for name in checkpoint_files(t.source)) + [CARD_FILE]
                         + ([FAMILY_FILE] if t.revision == MAIN else []) + eval_result_files(plan, t)}
                        for t in plan.targets]}


def eval_result_files(plan: PushPlan, target: PushTarget) -> list[str]:
    """``.eval_results/<test>.<metric>.yaml`` for every result of the target's card (none for an intermediate)."""
    results = checkpoint_eval_results(plan.family, target.run, step=target.step)
    return sorted(f"{EVAL_RESULTS}/{r.file}" for r in results)


def checkpoint_files(folder: Path) -> list[str]:
    """The files of a checkpoint folder that belong on the Hub: weights, config, tokenizer, run record.

    Sub-folders (intermediate steps, accelerate state), optimizer state and the training log are left out; pickled
    ``.bin`` weights only when there is no safetensors file.
    """
    names = [p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
             and _CHECKPOINT_FILE.match(p.name) and not any(word in p.name for word in _NOT_WEIGHTS)
             and p.name not in _NOT_PUBLISHED]
    for name in names:  # a link would upload whatever it points to, inside the family or not
        if (folder / name).is_symlink():
            raise UsageError(LINK_IN_RUN.format(path=folder / name, target=os.readlink(folder / name)))
    if any(name.endswith(".safetensors") for name in names):
        names = [name for name in names if not name.endswith(".bin")]
    return sorted(name for name in names if name != CARD_FILE)
