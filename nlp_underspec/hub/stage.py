"""A target's folder as it goes to the Hub: its checkpoint files (hard links where possible), README.md, FAMILY.md,
and ``.eval_results/*.yaml`` (the card's results in the Hub's newer format, :mod:`nlp_underspec.cards.eval_results`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nlp_underspec import cards
from nlp_underspec.hub.plan import CARD_FILE, FAMILY_FILE, MAIN, PushPlan, PushTarget, checkpoint_files
from nlp_underspec.io import atomic_write_text


def _link_or_copy(source: Path, target: Path, *, copy: bool) -> None:
    if not copy:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # another filesystem, or links not allowed: copy instead
    shutil.copy2(source, target)


def card_text(plan: PushPlan, target: PushTarget) -> str:
    base_model = None
    if target.run.kind == "finetuned" and target.step is None:
        parent = next((r for r in plan.family.pretrained_runs() if r.seed("pretrain") == target.run.seed("pretrain")), None)
        base_model = plan.layout.repo_for(parent) if parent is not None else None
    return str(cards.checkpoint_card(plan.family, target.run, locator=plan.layout, step=target.step,
                                     base_model=base_model))


def stage_target(plan: PushPlan, target: PushTarget, folder: Path, *, family_card: str, copy: bool) -> Path:
    """Fill ``folder`` with exactly what goes to ``target``: checkpoint files, README.md, FAMILY.md on main, and one
    ``.eval_results/<test>.<metric>.yaml`` per result of the card's model-index."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in checkpoint_files(target.source):
        _link_or_copy(target.source / name, folder / name, copy=copy)
    # the card and its .eval_results/ through the one writer `nlp-underspec card` uses, so local cards and repos agree
    cards.save_card(card_text(plan, target), folder / CARD_FILE,
                    cards.checkpoint_eval_results(plan.family, target.run, step=target.step))
    if target.revision == MAIN:
        atomic_write_text(folder / FAMILY_FILE, family_card)
    return folder


def family_card_text(plan: PushPlan) -> str:
    return str(cards.family_card(plan.family, locator=plan.layout))
