"""Dispatching the plan's runs: a run starts when the runs it depends on are complete, ``jobs`` at a time.

The same loop drives every executor. A run that exits non-zero (or exits without a complete record) is recorded as
failed in its own folder, with the tail of its log; runs that depend on it are reported as blocked; everything else
goes on. Progress is one live line: done / running / failed / pending and elapsed time.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nlp_underspec.config import Recipe
from nlp_underspec.records import STATUS_COMPLETE, RunRecord, mark_failed, read_run_record
from nlp_underspec.seeding import SCOPE_FIELDS
from nlp_underspec.sweep.executors import Executor, run_command
from nlp_underspec.artifacts import RECIPE as RESOLVED_RECIPE
from nlp_underspec.sweep.plan import RunSpec
from nlp_underspec.sweep.state import acquire_run_lock, release_run_lock

logger = logging.getLogger(__name__)

RUN_LOG = "log.txt"
POLL_SECONDS = 0.5


@dataclass
class Outcome:
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # key -> error
    blocked: dict[str, str] = field(default_factory=dict)  # key -> the failed run it waited for


def run_arguments(exp_dir: Path, run: RunSpec, recipe_path: Path) -> list[str]:
    """The nlp-underspec subcommand for one run (pretrain / finetune), reading the experiment's resolved recipe."""
    out = str(exp_dir / run.folder)
    if run.kind == "pretrain":
        return ["pretrain", str(recipe_path), "--pretrain-seed", str(run.seeds["pretrain_seed"]), "--out", out]
    start_from = run.start_from
    if start_from and start_from.startswith("pretrain/"):
        start_from = str(exp_dir / start_from)
    argv = ["finetune", str(recipe_path), "--task", run.task, "--from", start_from,
            "--finetune-seed", str(run.seeds["finetune_seed"]), "--out", out]
    if run.seeds.get("pretrain_seed") is not None and not run.start_from.startswith("pretrain/"):
        argv += ["--pretrain-seed", str(run.seeds["pretrain_seed"])]
    for name in ("init_seed", "data_seed"):  # pinned in the recipe: the same for every fine-tuning seed
        if run.seeds.get(name) is not None:
            argv += [f"--{name.replace('_', '-')}", str(run.seeds[name])]
    return argv


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _record_failure(folder: Path, run: RunSpec, returncode: int) -> str:
    record = read_run_record(folder)
    if record is not None and record.get("status") == "failed" and record.get("error"):
        return record["error"]
    error = f"exit code {returncode}" if returncode else "exited without marking the run complete"
    tail = _tail(folder / RUN_LOG)
    last = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), "")
    # First line: what the user needs (the run's own last words, e.g. its one-line UsageError); then the log's tail.
    message = f"{error}: {last}\n--- last lines of {folder / RUN_LOG}:\n{tail}" if last else error
    base = RunRecord.new(run_id=run.run_id, kind=run.kind, seeds=run.seeds, config=run.config, task=run.task,
                         parent=run.start_from)
    if record is not None:  # keep what the run itself recorded (start time, metrics so far)
        for key in ("started", "metrics", "versions", *SCOPE_FIELDS, "resumed_under", "git_commit"):
            if key in record:
                setattr(base, key, record[key])
    mark_failed(folder, base, message)
    return message


class Progress:
    """One status line, rewritten in place on a terminal and logged every few seconds otherwise."""

    def __init__(self, total: int, *, stream=None) -> None:
        self.total, self.stream, self.start = total, stream or sys.stderr, time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_log = 0.0
        self._last_text = ""

    def show(self, done: int, running: int, failed: int, blocked: int = 0, *, force: bool = False) -> None:
        elapsed = int(time.monotonic() - self.start)
        pending = self.total - done - running - failed - blocked
        text = (f"[runs] {done}/{self.total} done · {running} running · {failed} failed · "
                + (f"{blocked} blocked · " if blocked else "") + f"{pending} pending · "
                f"{elapsed // 60:02d}:{elapsed % 60:02d}")
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self._last_text)))
            self.stream.flush()
        elif force or text != self._last_text and time.monotonic() - self._last_log > 10:
            self.stream.write(text + "\n")
            self._last_log = time.monotonic()
        self._last_text = text

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _start_run(exp_dir: Path, run: RunSpec, recipe: Recipe, executor: Executor, recipe_path: Path) -> object:
    """Lock the run's folder, log the command line into its log and start it on the executor."""
    folder = exp_dir / run.folder
    acquire_run_lock(folder)
    command = run_command(run_arguments(exp_dir, run, recipe_path), accelerate_config=recipe.sweep.accelerate_config)
    with open(folder / RUN_LOG, "a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
    return executor.start(command, log_path=folder / RUN_LOG, cwd=Path.cwd(), threads=recipe.threads,
                          cpus=recipe.sweep.cpus_per_run, gpus=recipe.sweep.gpus_per_run)


def _start_ready(exp_dir: Path, recipe: Recipe, executor: Executor, recipe_path: Path, *, waiting: list[RunSpec],
                 active: dict[str, tuple[RunSpec, object]], complete: set[str], outcome: Outcome, jobs: int) -> None:
    """Start what is ready, in plan order, up to ``jobs`` at a time; a run whose parent failed is blocked."""
    for run in list(waiting):
        if len(active) >= jobs:
            break
        failed_parent = next((d for d in run.depends_on if d in outcome.failed or d in outcome.blocked), None)
        if failed_parent:
            outcome.blocked[run.key] = failed_parent
            waiting.remove(run)
            continue
        if all(d in complete for d in run.depends_on):
            active[run.key] = (run, _start_run(exp_dir, run, recipe, executor, recipe_path))
            waiting.remove(run)
    if not active and waiting and not any(all(d in complete for d in r.depends_on) for r in waiting):
        for run in waiting:  # waits for a run that is neither complete nor planned here: cannot start
            outcome.blocked[run.key] = next(d for d in run.depends_on if d not in complete)
        waiting.clear()


def _collect_finished(exp_dir: Path, executor: Executor, *, active: dict[str, tuple[RunSpec, object]],
                      complete: set[str], outcome: Outcome) -> None:
    """Record each run that exited: complete when it exited 0 with a complete run record, else failed."""
    for key, (run, handle) in list(active.items()):
        returncode = executor.poll(handle)
        if returncode is None:
            continue
        folder = exp_dir / run.folder
        del active[key]
        record = read_run_record(folder)
        if returncode == 0 and record is not None and record.get("status") == STATUS_COMPLETE:
            complete.add(key)
            outcome.completed.append(key)
        else:
            outcome.failed[key] = _record_failure(folder, run, returncode)
        release_run_lock(folder)


def execute(exp_dir: Path, runs: list[RunSpec], recipe: Recipe, executor: Executor, *, jobs: int,
            already_complete: set[str]) -> Outcome:
    """Run ``runs`` (those not complete) respecting dependencies; return what completed, failed and was blocked."""
    recipe_path = exp_dir / RESOLVED_RECIPE
    outcome = Outcome()
    prepare = getattr(executor, "prepare", None)  # executors that can share work between runs (local forks)
    if prepare is not None and runs:
        prepare(recipe_path, cwd=Path.cwd(), threads=recipe.threads)
    complete = set(already_complete)
    waiting = list(runs)
    active: dict[str, tuple[RunSpec, object]] = {}
    progress = Progress(len(runs))
    try:
        while waiting or active:
            _start_ready(exp_dir, recipe, executor, recipe_path, waiting=waiting, active=active, complete=complete,
                         outcome=outcome, jobs=jobs)
            _collect_finished(exp_dir, executor, active=active, complete=complete, outcome=outcome)
            progress.show(len(outcome.completed), len(active), len(outcome.failed), len(outcome.blocked))
            if active:
                time.sleep(POLL_SECONDS)
    except BaseException:
        executor.cancel_all()
        for run, _ in active.values():
            release_run_lock(exp_dir / run.folder)
        raise
    finally:
        progress.show(len(outcome.completed), len(active), len(outcome.failed), len(outcome.blocked), force=True)
        progress.close()
    return outcome
