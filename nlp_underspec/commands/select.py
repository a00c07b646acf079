"""``nlp-underspec select RUNDIR --stress TEST/METRIC``: specification-aware selection of one member of a family."""

from __future__ import annotations

import argparse

from nlp_underspec.commands.options import (add_occupation_stats_and_json_out, check_json_out, family_parser,
                                           positive_int, seed_int, write_json_then_print)
from nlp_underspec.seeding import DRAWS_MAX

OUT_FIX = "Pass a file path for --out (e.g. runs/tiny/selection.json)."
SELECT_OUT_NOT_OURS = ("--out {path} exists and is not a selection written by nlp-underspec select, so it is not "
                       "replaced. Choose another --out (a new file, or an earlier selection to replace).")
SELECTION_KEYS = {"selected", "selection_value", "confirmation_value", "confirmation_rank"}


def register(subparsers) -> None:
    summary = "pick the member best on a stress metric on half of its items, confirm on the rest, give its iid cost"
    parser = family_parser(
        subparsers, "select", summary=summary,
        rundir_help="run folder with predictions/ and scores.parquet (e.g. runs/tiny)",
        details=(". Reads RUNDIR/predictions/<test>/ and scores.parquet (never models). Splits the test's occupations "
                 "(or template ids) at random into a selection half and a confirmation half, picks the member closest "
                 "to --target on the first, ranks it among all members on the second, and gives its iid metric (the "
                 "paired task's dev metric) minus the best iid member's; the same over --splits random splits. A "
                 "metric below its noise floor (a correlation of float leftovers, or a family spread no larger than "
                 "members shuffled within each item give) is refused (exit 2) unless --allow-below-floor."))
    parser.add_argument("--stress", required=True, metavar="TEST/METRIC",
                        help="the stress metric to select on: a registered test and one of its metrics")
    parser.add_argument("--target", type=float, default=None,
                        help="the value to get closest to (default: the metric's direction, highest or lowest; 0 "
                             "for a signed bias)")
    parser.add_argument("--split", choices=("occupations", "templates"), default="occupations",
                        help="what is split in two halves (default occupations; templates where label_info has "
                             "template ids)")
    parser.add_argument("--seed", type=seed_int("--seed"), default=0, help="seed of the random split (default 0)")
    parser.add_argument("--splits", type=positive_int("--splits", DRAWS_MAX), default=200, metavar="K",
                        help="random splits the pick's distribution is given over (default 200; split 0 is the "
                             "--seed split above, the rest follow from --seed)")
    parser.add_argument("--allow-below-floor", action="store_true",
                        help="below the metric's noise floor, give the pick marked \"cannot tell\" instead of "
                             "refusing (exit 2)")
    parser.add_argument("--iid", default=None, metavar="METRIC",
                        help="the paired task's dev metric the iid cost is read on (default: dev_pearson, "
                             "dev_accuracy, ... whichever the task has)")
    add_occupation_stats_and_json_out(parser, what="the selection (RUNDIR/selection.json goes in the report)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.analysis.display import selection_table
    from nlp_underspec.analysis.selection import select_member
    from nlp_underspec.data.occupations import load_occupation_stats
    from nlp_underspec.io import check_output_path

    if args.out is not None:  # a folder, an unwritable place or a file not ours fails now, not after the work
        check_output_path(args.out, folder=False, fix=OUT_FIX)
        check_json_out(args.out, SELECTION_KEYS, SELECT_OUT_NOT_OURS)
    stats = load_occupation_stats(args.occupation_stats) if args.occupation_stats is not None else None
    selection = select_member(args.rundir, stress=args.stress, target=args.target, split=args.split, seed=args.seed,
                              iid=args.iid, occupation_stats=stats, splits=args.splits,
                              allow_below_floor=args.allow_below_floor)
    write_json_then_print(args.out, selection, selection_table(selection))
    return 0
