"""The Hub token: resolved the standard way, handed to the client, and never uploaded, printed, logged or written.

Before any repo is created (and before a dry run stages anything), :func:`check_no_token` reads every file the push
would upload, and the results its cards are written from, and refuses the push when one holds the token.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from nlp_underspec.artifacts import ANALYSIS, MANIFEST, PRETRAINED, SCORES, SUMMARY
from nlp_underspec.errors import UsageError
from nlp_underspec.experiment.family import Family
from nlp_underspec.hub.plan import MAIN, PushPlan, PushTarget, checkpoint_files
from nlp_underspec.hub.stage import card_text, family_card_text

NO_TOKEN = ("No Hugging Face token found: log in with `hf auth login` or set HF_TOKEN, then run the push again "
            "(or add --dry-run --staging DIR to see what would be uploaded).")
OFFLINE = ("HF_HUB_OFFLINE is set, so nothing can be pushed. Unset it to push, or add --dry-run --staging DIR to see "
           "what would be uploaded.")
TOKEN_IN_FILES = ("Refusing to push: {paths} {verb} the Hub token. Remove it from {them} and run the push again; "
                  "nothing was created, uploaded or staged.")


def _holds(path: Path, needle: bytes) -> bool:
    """Whether the file's bytes contain ``needle`` (mapped, not read: weights can be gigabytes)."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(needle) != -1


def _card_sources(family: Family) -> list[Path]:
    """The results files the cards are written from (run records are among the checkpoint files)."""
    names = (SUMMARY, ANALYSIS, SCORES, MANIFEST)
    return [folder / name for folder in (family.root, family.root / PRETRAINED) for name in names
            if (folder / name).is_file()]


def _token_refusal(found: list[str], token: str) -> UsageError:
    paths = ", ".join(scrub(str(path), token) for path in found)  # a path is shown, never the token itself
    one = len(found) == 1
    return UsageError(TOKEN_IN_FILES.format(paths=paths, verb="holds" if one else "hold", them="it" if one else "them"))


def check_no_token(plan: PushPlan, token: str | None) -> None:
    """Refuse the push (and its dry run) when a file it would upload, or a results file its cards are written from,
    holds ``token``; the message names the user's own files. Nothing has been created or staged at this point."""
    if not token:
        return  # no token configured: there is nothing that could leak
    needle = token.encode()
    sources = {target.source / name: None for target in plan.targets for name in checkpoint_files(target.source)}
    sources.update(dict.fromkeys(_card_sources(plan.family)))
    found = [str(path) for path in sources if _holds(path, needle)]
    if not found:  # the cards are generated text: check it too, in case it carries the token from elsewhere
        family_card = family_card_text(plan)
        found = [f"the model card of {target.describe()}" for target in plan.targets
                 if token in card_text(plan, target) or (target.revision == MAIN and token in family_card)]
    if found:
        raise _token_refusal(found, token)


def configured_token() -> str | None:
    """The token a push would use, for a dry run's check; None when none is configured (offline is fine)."""
    from huggingface_hub import get_token

    return get_token()


def refuse_token_in(folder: Path, target: PushTarget, token: str) -> None:
    """The last check before an upload (a file could change after :func:`check_no_token`): every staged file, named
    by where it came from, not by the scratch copy that is deleted right after."""
    needle, copied = token.encode(), set(checkpoint_files(target.source))
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and _holds(path, needle):
            found.append(str(target.source / path.name) if path.name in copied
                         else f"the {path.name} of {target.describe()}")
    if found:
        raise _token_refusal(found, token)


def resolve_token(token: str | None = None) -> str:
    """The token from the argument, else huggingface_hub's standard resolution; never echoed."""
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise UsageError(OFFLINE)
    token = token or get_token()
    if not token:
        raise UsageError(NO_TOKEN)
    return token


def scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text
