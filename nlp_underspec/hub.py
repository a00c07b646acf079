"""All writes to the Hugging Face Hub: publishing a seed family as repos, branches and a collection.

Layout (MultiBERTs and Pythia conventions): one repo per pretraining seed, ``<prefix>-seed_<p>``; one per fine-tuned
model, ``<prefix>-<task>-seed_<p>-ft_<f>``; intermediate checkpoints as branches ``step_<K>`` of the seed repo, or as
repos ``<prefix>-seed_<p>-step_<K/1000>k`` (``--intermediates repos``), or left out; a Collection links the family.
Each repo gets its model card (:mod:`nlp_underspec.cards`) and the family card as ``FAMILY.md``.

Every call goes through ``huggingface_hub.HfApi`` in the main process only. The token comes from the standard
resolution (``HF_TOKEN``, then the login cache); it is handed to the client and never printed, logged or written.
Before any repo is created (and before a dry run stages anything), :func:`check_no_token` reads every file the push
would upload, and the results its cards are written from, and refuses the push when one holds the token, naming the
user's own file: a token pasted into a config or tokenizer file would otherwise go public with the first repo.

Pushing is idempotent: ``create_repo``/``create_branch``/``create_collection``/``add_collection_item`` accept what
exists, and ``upload_folder`` asks the Hub for the blob id of every file first and makes no commit when nothing
changed. So an interrupted push resumes by running it again, and
a failure says which repo it stopped at and what is left.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp_underspec.errors import UsageError, connection_errors
from nlp_underspec.io import atomic_write_json, atomic_write_text, staged_output
from nlp_underspec.report.family import Family, RunFolder

log = logging.getLogger(__name__)

INTERMEDIATES = ("branches", "repos", "skip")
MAIN = "main"
FAMILY_FILE = "FAMILY.md"
PLAN_FILE = "push_plan.json"
MAX_NAME = 96  # the Hub's limit on a repo name
COLLECTION_TITLE_MAX = 59

REPO_PREFIX_INVALID = ("Invalid --repo-prefix '{prefix}': {why}. Use ORG/NAME, e.g. my-org/tiny-bert (letters, digits, "
                       "'-', '_' and '.'); repos are named NAME-seed_0, NAME-stsb-seed_0-ft_1, ...")
STAGING_NOT_EMPTY = "Staging folder {path} is not empty ({what}). Pass a new or empty folder to --staging."
STAGING_IS_FILE = "Staging path {path} is a file. Pass a new or empty folder to --staging."
STAGING_NEEDS_DRY_RUN = "--staging only applies with --dry-run. Add --dry-run, or leave --staging out to push."
NO_TOKEN = ("No Hugging Face token found: log in with `hf auth login` or set HF_TOKEN, then run the push again "
            "(or add --dry-run --staging DIR to see what would be uploaded).")
OFFLINE = ("HF_HUB_OFFLINE is set, so nothing can be pushed. Unset it to push, or add --dry-run --staging DIR to see "
           "what would be uploaded.")
TOKEN_REJECTED = ("The Hub at {endpoint} rejected the token ({error}). Check it with `hf auth whoami`, or log in again "
                  "with `hf auth login`; nothing was pushed.")
NOTHING_TO_PUSH = ("{root} has no complete run folders (pretrain/p*/ or finetune/<task>/p*-f*/) to push. Train the family "
                   "with `nlp-underspec run` first, or publish an evaluated model's card with `nlp-underspec card`.")
LINK_IN_RUN = ("Refusing to push: {path} is a symbolic link (to {target}), and a push would upload the file it "
               "points to, which may lie outside the family. A run folder holds its own files: replace the link with "
               "the file, or move it out of the run folder.")
TOKEN_IN_FILES = ("Refusing to push: {paths} {verb} the Hub token. Remove it from {them} and run the push again; "
                  "nothing was created, uploaded or staged.")
PUSH_FAILED = ("Push stopped at {repo}{revision} while {step}: {error}. Done: {done} of {total} steps; left: {left}. "
               "Run the same command again to resume: finished uploads are detected and make no new commit.")

_NAME_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$")
_CHECKPOINT_FILE = re.compile(r".+\.(json|safetensors|txt|model|bin)$")
_NOT_WEIGHTS = ("optimizer", "scheduler", "random_states", "rng_state", "training_args", "trainer_state")
_NOT_PUBLISHED = {"log.txt", "stages.json"}  # training logs hold local paths and timings, not the model


class PushError(UsageError):
    """A push that failed part-way (network, permissions): the message names the repo and what is left."""

    exit_code = 1


# -------------------------------------------------------------------------------------------------------- naming


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
        return self.repo_for(run), f"step_{step}"

    def pattern(self, run: RunFolder) -> str:
        if run.kind == "pretrained":
            return f'f"{self.prefix}-seed_{{p}}"'
        return f'f"{self.prefix}-{run.task}-seed_{{p}}-ft_{{f}}"'

    def describe_steps(self) -> str:
        if self.intermediates == "repos":
            return "separate repos named like this one with a -step_<K> suffix"
        return "branches step_<K> of this repo"


# ---------------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PushTarget:
    """One folder to upload: a checkpoint and its card, to one revision of one repo."""

    repo_id: str
    revision: str
    run: RunFolder
    step: int | None = None

    @property
    def source(self) -> Path:
        return self.run.path if self.step is None else self.run.path / f"step_{self.step}"

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
    from nlp_underspec import records

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
                         "step": t.step, "files": sorted(name for name in checkpoint_files(t.source)) + ["README.md"]
                         + ([FAMILY_FILE] if t.revision == MAIN else [])} for t in plan.targets]}


# ------------------------------------------------------------------------------------------------------- staging


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
    return sorted(name for name in names if name != "README.md")


def _link_or_copy(source: Path, target: Path, *, copy: bool) -> None:
    if not copy:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # another filesystem, or links not allowed: copy instead
    shutil.copy2(source, target)


def _card_text(plan: PushPlan, target: PushTarget) -> str:
    from nlp_underspec import cards

    base_model = None
    if target.run.kind == "finetuned" and target.step is None:
        parent = next((r for r in plan.family.pretrained_runs() if r.seed("pretrain") == target.run.seed("pretrain")), None)
        base_model = plan.layout.repo_for(parent) if parent is not None else None
    return str(cards.checkpoint_card(plan.family, target.run, locator=plan.layout, step=target.step,
                                     base_model=base_model))


def stage_target(plan: PushPlan, target: PushTarget, folder: Path, *, family_card: str, copy: bool) -> Path:
    """Fill ``folder`` with exactly what goes to ``target``: checkpoint files, README.md, FAMILY.md on main."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in checkpoint_files(target.source):
        _link_or_copy(target.source / name, folder / name, copy=copy)
    atomic_write_text(folder / "README.md", _card_text(plan, target))
    if target.revision == MAIN:
        atomic_write_text(folder / FAMILY_FILE, family_card)
    return folder


def _family_card(plan: PushPlan) -> str:
    from nlp_underspec import cards

    return str(cards.family_card(plan.family, locator=plan.layout))


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
    family_card = _family_card(plan)
    with staged_output(staging, inputs=[plan.family.root]) as stage:
        for target in plan.targets:
            stage_target(plan, target, stage / target.folder_name, family_card=family_card, copy=True)
        atomic_write_json(stage / PLAN_FILE, plan_summary(plan))
    return [staging / t.folder_name for t in plan.targets]


# ---------------------------------------------------------------------------------------------------- the token


def _holds(path: Path, needle: bytes) -> bool:
    """Whether the file's bytes contain ``needle`` (mapped, not read: weights can be gigabytes)."""
    import mmap

    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(needle) != -1


def _card_sources(family: Family) -> list[Path]:
    """The results files the cards are written from (run records are among the checkpoint files)."""
    names = ("summary.json", "analysis.json", "scores.parquet", "manifest.json")
    return [folder / name for folder in (family.root, family.root / "pretrained") for name in names
            if (folder / name).is_file()]


def _token_refusal(found: list[str], token: str) -> UsageError:
    paths = ", ".join(_scrub(str(path), token) for path in found)  # a path is shown, never the token itself
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
        family_card = _family_card(plan)
        found = [f"the model card of {target.describe()}" for target in plan.targets
                 if token in _card_text(plan, target) or (target.revision == MAIN and token in family_card)]
    if found:
        raise _token_refusal(found, token)


def configured_token() -> str | None:
    """The token a push would use, for a dry run's check; None when none is configured (offline is fine)."""
    from huggingface_hub import get_token

    return get_token()


def _refuse_token_in(folder: Path, target: PushTarget, token: str) -> None:
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


# ---------------------------------------------------------------------------------------------------------- push


def is_main_process() -> bool:
    """Hub calls happen once: in the process of rank 0 when launched by accelerate/torchrun."""
    for variable in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(variable)
        if value not in (None, "") and value.strip() != "0":
            return False
    return True


def resolve_token(token: str | None = None) -> str:
    """The token from the argument, else huggingface_hub's standard resolution; never echoed."""
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise UsageError(OFFLINE)
    token = token or get_token()
    if not token:
        raise UsageError(NO_TOKEN)
    return token


@dataclass
class PushOutcome:
    """What one push did: per (repo, revision) the commit and whether it is new; the collection's slug."""

    results: list[dict[str, Any]] = field(default_factory=list)
    collection: str | None = None

    @property
    def new_commits(self) -> int:
        return sum(1 for r in self.results if r["changed"])


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def _error_text(err: Exception, token: str) -> str:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return _scrub(first, token)[:300].rstrip(".")


def _head(api, repo_id: str, revision: str) -> str | None:
    refs = api.list_repo_refs(repo_id)
    return next((b.target_commit for b in refs.branches if b.name == revision), None)


def _upload(api, plan: PushPlan, target: PushTarget, *, workdir: Path, family_card: str, token: str) -> dict[str, Any]:
    folder = stage_target(plan, target, workdir / target.folder_name, family_card=family_card, copy=False)
    _refuse_token_in(folder, target, token)
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
        raise PushError(_scrub(f"Cannot reach the Hub at {api.endpoint} ({type(err).__name__}: {err}). Check the "
                               "connection (or HF_ENDPOINT) and run the same command again.", token)) from None
    steps = _steps(plan)
    family_card = _family_card(plan)
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
