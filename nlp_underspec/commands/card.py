"""``nlp-underspec card``: model cards for a family (RUNDIR) or for one evaluated model (--model --results).

``card RUNDIR`` writes ``RUNDIR/cards/<run id>/README.md`` for every checkpoint and ``RUNDIR/cards/family/README.md``.
``card --model CKPT --results DIR`` writes a card for one model that ``nlp-underspec evaluate`` scored; with
``--readme FILE`` it only replaces (or appends) the stress section of an existing README.md, between its markers.
Beside every card with results goes its ``.eval_results/*.yaml`` (what a push stages; ``nlp-underspec eval-results``
reads them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nlp_underspec.errors import UsageError

CARD_NEEDS_INPUT = "Pass an experiment folder (nlp-underspec card runs/tiny) or --model CKPT --results DIR."
CARD_BOTH = "Pass either an experiment folder or --model/--results, not both."
MODEL_NEEDS_RESULTS = "--model needs --results DIR: the folder `nlp-underspec evaluate` wrote for that model."
RESULTS_NEEDS_MODEL = "--results needs --model CKPT: the checkpoint (path or Hub id) whose card to write."
README_NOT_WITH_OUT = ("--readme {readme} updates that file in place, so --out {out} would be ignored. Pass one: "
                       "--readme to update an existing README.md, or --out to write a new card.")
README_ONLY_FOR_MODEL = "--readme only applies with --model/--results (it updates one model's README.md)."
PREFIX_ONLY_FOR_FAMILY = "--repo-prefix only applies to an experiment folder (nlp-underspec card RUNDIR --repo-prefix ORG/NAME)."
CARD_NOT_OURS = ("{path} exists and was not written by nlp-underspec. Use --readme {path} to update only its stress "
                 "section, or choose another --out.")
CARD_IN_INPUT = ("{path} lies in {input}, an input of this command, and was not written by nlp-underspec, so it is not "
                 "replaced, --overwrite or not. Use --readme {path} to update only its stress section, or choose "
                 "another --out.")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "card", help="write model cards with the stress-test section (per checkpoint and for the family)",
        description="Write Hugging Face model cards whose front matter holds the stress results as a model-index and "
                    "whose 'Bias, Risks, and Limitations' section is written from summary.json and analysis.json; beside each "
                    "checkpoint's or model's card, the same results as .eval_results/*.yaml (the Hub's newer format).")
    parser.add_argument("rundir", nargs="?", help="experiment folder (cards for every checkpoint + the family)")
    parser.add_argument("--model", help="a checkpoint scored by `nlp-underspec evaluate` (path or Hub id)")
    parser.add_argument("--results", help="the results folder of that evaluation (holds summary.json)")
    parser.add_argument("--readme", help="existing README.md whose stress section to replace (or append) in place")
    parser.add_argument("--out", help="where to write: cards folder for RUNDIR (default RUNDIR/cards), card folder "
                                      "for --model (default RESULTS/cards/<model>)")
    parser.add_argument("--repo-prefix", help="ORG/NAME: write loading snippets for the Hub layout `push` uses")
    parser.add_argument("--intermediates", choices=("branches", "repos", "skip"), default="branches",
                        help="with --repo-prefix: where intermediate checkpoints live (default: branches)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a README.md at --out that is not ours (never one inside --model or --results); "
                             "an earlier cards folder is replaced anyway, another folder never")
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if args.rundir and (args.model or args.results):
        raise UsageError(CARD_BOTH)
    if not args.rundir and not args.model and not args.results:
        raise UsageError(CARD_NEEDS_INPUT)
    if args.model and not args.results:
        raise UsageError(MODEL_NEEDS_RESULTS)
    if args.results and not args.model:
        raise UsageError(RESULTS_NEEDS_MODEL)
    if args.readme and args.rundir:
        raise UsageError(README_ONLY_FOR_MODEL)
    if args.readme and args.out:
        raise UsageError(README_NOT_WITH_OUT.format(readme=args.readme, out=args.out))
    if args.repo_prefix and not args.rundir:
        raise UsageError(PREFIX_ONLY_FOR_FAMILY)


def run(args: argparse.Namespace) -> int:
    _check(args)
    return _family_cards(args) if args.rundir else _model_card(args)


def _family_cards(args: argparse.Namespace) -> int:
    from nlp_underspec import cards
    from nlp_underspec.experiment.family import load_family
    from nlp_underspec.hub import layout

    locator = None
    if args.repo_prefix:
        layout.check_repo_prefix(args.repo_prefix)
        locator = layout.HubLayout(args.repo_prefix, args.intermediates)
    family = load_family(args.rundir)
    paths = cards.write_family_cards(family, out=args.out, locator=locator, overwrite=args.overwrite)
    for path in paths:
        print(path)
    _print_eval_results(paths)
    return 0


def _print_eval_results(paths: list[Path]) -> None:
    """One line for the .eval_results/ files beside the cards (one per result: listing them would drown the cards)."""
    from nlp_underspec import cards

    counts = [len(list((path.parent / cards.EVAL_RESULTS).glob("*.yaml"))) for path in paths]
    if any(counts):
        first = next(path.parent for path, count in zip(paths, counts) if count)
        print(f"eval results: {sum(counts)} files in {cards.EVAL_RESULTS}/ beside {sum(map(bool, counts))} card(s) "
              f"(huggingface_hub's EvalResultEntry format; read them with `nlp-underspec eval-results {first}`)")


def _ours(path: Path) -> bool:
    from nlp_underspec import cards

    text = path.read_text(encoding="utf-8", errors="replace")
    return cards.START_PREFIX in text or cards.CARD_SIGNATURE in text


def _lies_in(path: Path, folder: str) -> bool:
    import os

    if not os.path.isdir(folder):
        return False  # a Hub id
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, root]) == root


def _model_card(args: argparse.Namespace) -> int:
    from nlp_underspec import cards
    from nlp_underspec.experiment.family import load_family

    family = load_family(args.results, check_runs=False)
    model = cards.find_model(family, args.model)
    if args.readme:
        section = cards.stress_section(family, model, tests=list(model.tests), subject="This model")
        print(f"stress section updated: {cards.update_readme(args.readme, section)}")
        return 0
    path = Path(args.out) / cards.README if args.out else family.root / cards.CARDS / cards.model_folder_name(model.name) / cards.README
    if path.is_file() and not _ours(path):
        inside = next((given for given in (args.model, args.results) if _lies_in(path, given)), None)
        if inside is not None:  # e.g. the checkpoint's own README.md: part of what the user gave
            raise UsageError(CARD_IN_INPUT.format(path=path, input=inside))
        if not args.overwrite:
            raise UsageError(CARD_NOT_OURS.format(path=path))
    card = cards.model_card(family, model, checkpoint=args.model)
    print(cards.save_card(card, path, cards.model_eval_results(model)))
    _print_eval_results([path])
    return 0
