"""``nlp-underspec status DIR``: which runs of an experiment are complete, running, failed, partial or pending."""

from __future__ import annotations

import sys
from pathlib import Path

NOT_AN_EXPERIMENT = "{path} is not an experiment folder (no manifest.json). Start one with `nlp-underspec run RECIPE --out {path}`."
STATUS_OF_FILE = ("{path} is a file, not an experiment folder. Pass the folder given to `nlp-underspec run` as --out "
                  "(it holds manifest.json).")

SAME_WEIGHTS_WARNING = ("warning: {first} and {second} hold the same weights: two runs of a seed family are never the "
                        "same model, so one is a copy of the other (a push refuses them). Delete the copy's folder and "
                        "run the experiment again.")
# Status compares weights by size and their first and last bytes, not by reading gigabytes; push hashes them whole.
_FINGERPRINT_BYTES = 1 << 20


def register(subparsers) -> None:
    parser = subparsers.add_parser("status", help="show the state of every run of an experiment", description=__doc__)
    parser.add_argument("experiment", help="experiment folder written by `nlp-underspec run`")
    parser.add_argument("--all", action="store_true", help="list every run, not only those that are not complete")
    parser.set_defaults(func=main)


def main(args) -> int:
    from nlp_underspec.config import recipe_from_dict
    from nlp_underspec.errors import UsageError
    from nlp_underspec.records import read_run_record, same_weights
    from nlp_underspec.sweep.pipeline import STAGE_OUTPUTS
    from nlp_underspec.sweep.plan import build_plan, read_manifest
    from nlp_underspec.sweep.state import STATES, check_run_folders, lost_model, run_state

    exp_dir = Path(args.experiment)
    if exp_dir.exists() and not exp_dir.is_dir():
        raise UsageError(STATUS_OF_FILE.format(path=exp_dir))
    manifest = read_manifest(exp_dir) if exp_dir.is_dir() else None
    if manifest is None:
        raise UsageError(NOT_AN_EXPERIMENT.format(path=exp_dir))
    plan = build_plan(recipe_from_dict(manifest["recipe"], where=str(exp_dir / "manifest.json")))
    check_run_folders(exp_dir, plan.runs)  # a linked run folder would show another run's state
    states = {run.key: run_state(exp_dir, run) for run in plan.runs}
    counts = {state: sum(s == state for s in states.values()) for state in STATES}
    print(f"{manifest['name']}: {len(plan.runs)} runs · " + " · ".join(f"{n} {s}" for s, n in counts.items() if n))
    for run in plan.runs:
        state = states[run.key]
        if state == "complete" and not args.all:
            continue
        detail = ""
        if state == "failed":
            detail = ((read_run_record(exp_dir / run.folder) or {}).get("error") or "").splitlines()[0:1]
            detail = f"  {detail[0]}" if detail else ""
        elif state == "partial" and lost_model(exp_dir, run):
            detail = f"  {lost_model(exp_dir, run)}"
        print(f"  {state:<9} {run.key}{detail}")
    complete = [exp_dir / run.folder for run in plan.runs if states[run.key] == "complete"]
    for first, second in same_weights(complete, sample=_FINGERPRINT_BYTES):
        print(SAME_WEIGHTS_WARNING.format(first=first.relative_to(exp_dir), second=second.relative_to(exp_dir)),
              file=sys.stderr)
    present = [stage for stage, path in STAGE_OUTPUTS.items() if (exp_dir / path).exists()]
    print("results: " + (", ".join(present) if present else "none yet"))
    return 0
