"""The uploads: create the repos, upload every target, build the collection; safe to run again.

Every call goes through ``huggingface_hub.HfApi`` in the main process only. Pushing is idempotent:
``create_repo``/``create_branch``/``create_collection``/``add_collection_item`` accept what exists, and
``upload_folder`` asks the Hub for the blob id of every file first and makes no commit when nothing changed. So an
interrupted push resumes by running it again, and a failure says which repo it stopped at and what is left.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp_underspec.errors import UsageError, connection_errors
from nlp_underspec.hub.plan import MAIN, PushPlan, PushTarget
from nlp_underspec.hub.stage import family_card_text, stage_target
from nlp_underspec.hub.tokens import check_no_token, refuse_token_in, resolve_token, scrub

log = logging.getLogger(__name__)

TOKEN_REJECTED = ("The Hub at {endpoint} rejected the token ({error}). Check it with `hf auth whoami`, or log in again "
                  "with `hf auth login`; nothing was pushed.")
PUSH_FAILED = ("Push stopped at {repo}{revision} while {step}: {error}. Done: {done} of {total} steps; left: {left}. "
               "Run the same command again to resume: finished uploads are detected and make no new commit.")


class PushError(UsageError):
    """A push that failed part-way (network, permissions): the message names the repo and what is left."""

    exit_code = 1


def is_main_process() -> bool:
    """Hub calls happen once: in the process of rank 0 when launched by accelerate/torchrun."""
    for variable in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(variable)
        if value not in (None, "") and value.strip() != "0":
            return False
    return True


@dataclass
class PushOutcome:
    """What one push did: per (repo, revision) the commit and whether it is new; the collection's slug."""

    results: list[dict[str, Any]] = field(default_factory=list)
    collection: str | None = None

    @property
    def new_commits(self) -> int:
        return sum(1 for r in self.results if r["changed"])


def _error_text(err: Exception, token: str) -> str:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return scrub(first, token)[:300].rstrip(".")


def _head(api, repo_id: str, revision: str) -> str | None:
    refs = api.list_repo_refs(repo_id)
    return next((b.target_commit for b in refs.branches if b.name == revision), None)


def _upload(api, plan: PushPlan, target: PushTarget, *, workdir: Path, family_card: str, token: str) -> dict[str, Any]:
    folder = stage_target(plan, target, workdir / target.folder_name, family_card=family_card, copy=False)
    refuse_token_in(folder, target, token)
    if target.revision != MAIN:
        api.create_branch(target.repo_id, branch=target.revision, exist_ok=True)
    before = _head(api, target.repo_id, target.revision)
    what = f"{target.run.label}" + (f" at step {target.step}" if target.step is not None else "")
    info = api.upload_folder(repo_id=target.repo_id, folder_path=folder, revision=target.revision,
                             commit_message=f"Upload {what} (nlp_underspec)",
                             # A branch mirrors its step folder exactly: drop files it inherited from main.
                             delete_patterns="*" if target.revision != MAIN else None)
    shutil.rmtree(folder, ignore_errors=True)
    return {"repo_id": target.repo_id, "revision": target.revision, "commit": info.oid, "changed": info.oid != before}


def push(plan: PushPlan, *, token: str | None = None, endpoint: str | None = None,
         progress: Callable[[str], None] | None = None) -> PushOutcome:
    """Create the repos, upload every target, build the collection; safe to run again (resumes, no empty commits)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    outcome = PushOutcome()
    if not is_main_process():
        log.info("Not the main process: leaving the Hub push to rank 0.")
        return outcome
    token = resolve_token(token)
    check_no_token(plan, token)  # before any call: the first create_repo would already make a public repo
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    say = progress or log.info
    try:
        api.whoami()
    except HfHubHTTPError as err:
        raise UsageError(TOKEN_REJECTED.format(endpoint=api.endpoint, error=_error_text(err, token))) from None
    except connection_errors() as err:
        raise PushError(scrub(f"Cannot reach the Hub at {api.endpoint} ({type(err).__name__}: {err}). Check the "
                               "connection (or HF_ENDPOINT) and run the same command again.", token)) from None
    steps = _steps(plan)
    family_card = family_card_text(plan)
    with tempfile.TemporaryDirectory(prefix=".nlp_underspec-push-", dir=_scratch_parent(plan.family.root)) as tmp:
        for index, (description, repo, revision, action) in enumerate(steps):
            try:
                result = action(api, Path(tmp), family_card, token)
            except (HfHubHTTPError, ValueError, *connection_errors()) as err:
                left = [d for d, *_ in steps[index:]]
                shown = "; ".join(left[:5]) + (f"; and {len(left) - 5} more" if len(left) > 5 else "")
                raise PushError(PUSH_FAILED.format(repo=repo, revision=f" @ {revision}" if revision != MAIN else "",
                                                   step=description, error=_error_text(err, token), done=index,
                                                   total=len(steps), left=shown)) from None
            if isinstance(result, dict):
                outcome.results.append(result)
                state = "new commit" if result["changed"] else "unchanged"
                say(f"{result['repo_id']} @ {result['revision']}: {state} {result['commit'][:10]}")
            elif isinstance(result, str):
                outcome.collection = result
    if outcome.collection:
        say(f"collection: {outcome.collection}")
    return outcome


def _scratch_parent(root: Path) -> Path | None:
    """Where upload folders are assembled: beside the checkpoints, so files are hard links, not copies (big models)."""
    return root if os.access(root, os.W_OK) else None


def _steps(plan: PushPlan) -> list[tuple[str, str, str, Callable]]:
    """(description, repo, revision, action) in order: each repo created, then its uploads; the collection last."""
    steps: list[tuple[str, str, str, Callable]] = []
    created: set[str] = set()
    for target in plan.targets:
        if target.repo_id not in created:
            created.add(target.repo_id)
            steps.append((f"creating {target.repo_id}", target.repo_id, MAIN,
                          lambda api, tmp, card, token, repo=target.repo_id:
                          api.create_repo(repo, private=plan.private, exist_ok=True) and None))
        steps.append((f"uploading {target.describe()}", target.repo_id, target.revision,
                      lambda api, tmp, card, token, target=target:
                      _upload(api, plan, target, workdir=tmp, family_card=card, token=token)))
    steps.append((f"building the collection “{plan.layout.collection_title}”", plan.layout.namespace, MAIN,
                  lambda api, tmp, card, token: _collection(api, plan)))
    return steps


def _collection(api, plan: PushPlan) -> str:
    family = plan.family
    pretrain, finetune = family.seeds_of()
    description = (f"{len(family.models)} BERTs of one recipe differing only in seeds (pretraining {pretrain}"
                   + (f" × fine-tuning {finetune}" if finetune else "") + "). Cards carry gender stress results.")
    collection = api.create_collection(title=plan.layout.collection_title, namespace=plan.layout.namespace,
                                       description=description[:150], private=plan.private, exists_ok=True)
    for target in plan.targets:
        if target.revision != MAIN:
            continue
        note = f"{target.run.label}" + (f", step {target.step}" if target.step is not None else "")
        api.add_collection_item(collection.slug, item_id=target.repo_id, item_type="model", note=note,
                                exists_ok=True)
    return collection.slug
