"""``nlp-underspec push RUNDIR --repo-prefix ORG/NAME``: publish the family to the Hugging Face Hub.

One repo per pretraining seed and per fine-tuned model, intermediate checkpoints as branches (or repos), every repo
with its card, and a collection. ``--dry-run --staging DIR`` writes exactly what would be uploaded instead.
"""

from __future__ import annotations

import argparse
import logging

from nlp_underspec.errors import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "push", help="publish the family to the Hugging Face Hub (repos, branches, cards, a collection)",
        description="Publish every checkpoint of RUNDIR with its model card: <prefix>-seed_<p> per pretraining seed, "
                    "<prefix>-<task>-seed_<p>-ft_<f> per fine-tuned model, intermediate checkpoints as branches "
                    "step_<K> (or repos), and a collection. Safe to run again: unchanged files make no new commit, so "
                    "an interrupted push resumes. The token comes from HF_TOKEN or `hf auth login`.")
    parser.add_argument("rundir", help="experiment folder with run folders and summary.json (e.g. runs/tiny)")
    parser.add_argument("--repo-prefix", required=True, help="ORG/NAME, e.g. my-org/tiny-bert")
    parser.add_argument("--intermediates", choices=("branches", "repos", "skip"), default="branches",
                        help="intermediate checkpoints as branches step_<K> (default), separate repos, or not at all")
    parser.add_argument("--private", action="store_true", help="create the repos and the collection as private")
    parser.add_argument("--dry-run", action="store_true", help="upload nothing: print the plan (and stage it)")
    parser.add_argument("--staging", help="with --dry-run: write every folder that would be uploaded here (new or empty)")
    parser.set_defaults(func=run)


def _print_plan(plan, *, staged: str | None) -> None:
    from nlp_underspec.cards.eval_results import EVAL_RESULTS
    from nlp_underspec.hub import plan as hub_plan

    summary = hub_plan.plan_summary(plan)
    print(f"repos ({len(summary['repos'])}{', private' if plan.private else ''}):")
    for repo in summary["repos"]:
        print(f"  {repo}")
    if summary["branches"]:
        print(f"branches ({len(summary['branches'])}):")
        for branch in summary["branches"]:
            print(f"  {branch}")
    collection = summary["collection"]
    print(f"collection: \"{collection['title']}\" in {collection['namespace']} ({len(collection['items'])} items)")
    results = [[n for n in target["files"] if n.startswith(f"{EVAL_RESULTS}/")] for target in summary["targets"]]
    if any(results):
        print(f"eval results: {sum(map(len, results))} files in {EVAL_RESULTS}/ of {sum(map(bool, results))} repos "
              "(one per stress-test and iid metric, huggingface_hub's EvalResultEntry format)")
    if staged:
        print(f"staged in {staged} (one folder per repo/branch; see {hub_plan.PLAN_FILE})")


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.experiment.family import load_family
    from nlp_underspec.hub import dry_run, layout, push, tokens
    from nlp_underspec.hub import plan as hub_plan

    if args.staging and not args.dry_run:
        raise UsageError(dry_run.STAGING_NEEDS_DRY_RUN)
    layout.check_repo_prefix(args.repo_prefix)
    token = None if args.dry_run else tokens.resolve_token()  # fail before any work when there is no token
    family = load_family(args.rundir)
    plan = hub_plan.plan_push(family, repo_prefix=args.repo_prefix, intermediates=args.intermediates, private=args.private)
    if args.dry_run:
        token = tokens.configured_token()  # the dry run finds what the push would refuse, and stages none of it
        if args.staging:
            dry_run.stage_push(plan, args.staging, token=token)
        else:
            tokens.check_no_token(plan, token)
        _print_plan(plan, staged=args.staging)
        return 0
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # "No files have been modified since last commit": our own progress line already says "unchanged".
    for name in ("huggingface_hub.hf_api", "huggingface_hub._upload_pipeline"):
        logging.getLogger(name).setLevel(logging.ERROR)
    outcome = push.push(plan, token=token, progress=print)
    print(f"done: {len(plan.repos())} repos, {outcome.new_commits} new commit(s), collection {outcome.collection}")
    return 0
