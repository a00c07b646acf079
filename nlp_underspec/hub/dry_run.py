"""The dry run (``--dry-run --staging DIR``): every folder the push would upload, written under DIR."""

from __future__ import annotations

import os
from pathlib import Path

from nlp_underspec.errors import UsageError
from nlp_underspec.hub.plan import PLAN_FILE, PushPlan, plan_summary
from nlp_underspec.hub.stage import family_card_text, stage_target
from nlp_underspec.hub.tokens import check_no_token
from nlp_underspec.io import atomic_write_json, staged_output

STAGING_NOT_EMPTY = "Staging folder {path} is not empty ({what}). Pass a new or empty folder to --staging."
STAGING_IS_FILE = "Staging path {path} is a file. Pass a new or empty folder to --staging."
STAGING_NEEDS_DRY_RUN = "--staging only applies with --dry-run. Add --dry-run, or leave --staging out to push."


def _check_staging(staging: Path) -> None:
    if staging.exists() and not staging.is_dir():
        raise UsageError(STAGING_IS_FILE.format(path=staging))
    if staging.is_dir() and any(staging.iterdir()):
        what = ", ".join(sorted(p.name for p in staging.iterdir())[:4])
        raise UsageError(STAGING_NOT_EMPTY.format(path=staging, what=what))


def stage_push(plan: PushPlan, staging: str | os.PathLike, *, token: str | None = None) -> list[Path]:
    """The dry run: write every folder the push would upload under ``staging`` (plus push_plan.json).

    With ``token`` (the one a push would use) it refuses, as the push does, when a file would carry the token."""
    staging = Path(staging)
    _check_staging(staging)
    check_no_token(plan, token)
    family_card = family_card_text(plan)
    with staged_output(staging, inputs=[plan.family.root]) as stage:
        for target in plan.targets:
            stage_target(plan, target, stage / target.folder_name, family_card=family_card, copy=True)
        atomic_write_json(stage / PLAN_FILE, plan_summary(plan))
    return [staging / t.folder_name for t in plan.targets]
