"""``nlp-underspec compare BASE EXPT``: Multi-Bootstrap of an intervention family against a baseline family."""

from __future__ import annotations

import argparse

from nlp_underspec.commands.options import (add_occupation_stats_and_json_out, check_json_out, check_nboot,
                                           write_json_then_print)
from nlp_underspec.errors import UsageError

NOTHING_COMPARED = "Nothing could be compared: {reason}"
OUT_FIX = "Pass a file path for --out (e.g. comparison.json)."
COMPARE_OUT_NOT_OURS = ("--out {path} exists and is not a comparison written by nlp-underspec compare, so it is not "
                        "replaced. Choose another --out (a new file, or an earlier comparison to replace).")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="Multi-Bootstrap comparison of two families (baseline vs intervention), metric by metric",
        description="Reads scores.parquet and predictions/ of both run folders. Resamples pretraining seeds (and the "
                    "shared examples when both triplets hold the same items) and reports baseline, intervention and "
                    "delta = intervention - baseline with percentile intervals and a one-sided p-value.")
    parser.add_argument("base", help="baseline run folder")
    parser.add_argument("expt", help="intervention run folder")
    parser.add_argument("--paired", action="store_true",
                        help="pair runs by pretraining seed (one seed draw for both families; seeds must overlap)")
    parser.add_argument("--metrics", type=lambda s: [p.strip() for p in s.split(",") if p.strip()], default=None,
                        metavar="LIST", help="comma-separated test/metric keys (default: every shared metric)")
    parser.add_argument("--nboot", type=int, default=1000, help="bootstrap samples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--expect-negative-effect", action="store_true",
                        help="p-value for delta < 0 (the intervention lowers the metric) instead of delta > 0")
    parser.add_argument("--abs-threshold", type=float, default=None, help="also report P(delta beyond this)")
    parser.add_argument("--rel-threshold", type=float, default=None,
                        help="also report P(delta / baseline beyond this)")
    add_occupation_stats_and_json_out(parser, what="the comparison")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.analysis._common import check_finite_number, check_level
    from nlp_underspec.analysis.compare import compare_families
    from nlp_underspec.analysis.display import comparison_table
    from nlp_underspec.data.occupations import load_occupation_stats
    from nlp_underspec.io import check_output_path
    from nlp_underspec.seeding import check_seed

    check_nboot(args.nboot)
    check_level(args.level, name="--level")
    for flag, value in (("--abs-threshold", args.abs_threshold), ("--rel-threshold", args.rel_threshold)):
        if value is not None:
            check_finite_number(flag, value)
    if args.out is not None:  # a folder, an unwritable place or a file not ours fails now, not after the bootstrap
        check_output_path(args.out, folder=False, fix=OUT_FIX)
        check_json_out(args.out, {"base", "expt", "comparisons", "skipped"}, COMPARE_OUT_NOT_OURS)
    stats = load_occupation_stats(args.occupation_stats) if args.occupation_stats is not None else None
    comparison = compare_families(args.base, args.expt, paired=args.paired, nboot=args.nboot,
                                  seed=check_seed("--seed", args.seed), metrics=args.metrics, c=args.level,
                                  expect_negative_effect=args.expect_negative_effect,
                                  abs_threshold=args.abs_threshold, rel_threshold=args.rel_threshold,
                                  occupation_stats=stats)
    if not comparison["comparisons"]:
        raise UsageError(NOTHING_COMPARED.format(reason=comparison["skipped"][0]["reason"]))
    write_json_then_print(args.out, comparison, comparison_table(comparison))
    return 0
