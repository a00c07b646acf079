"""``nlp-underspec analyze RUNDIR``: write RUNDIR/analysis.json (the seed-analysis statements) and print the key table."""

from __future__ import annotations

import argparse
from pathlib import Path

from nlp_underspec.commands.options import check_nboot, path_value, positive_int

NO_WRITE_FIX = "Pass --no-write to print the table without writing analysis.json."
STATEMENT_LIST = ("spread, seed_share, multibootstrap, iid_vs_stress, iid_equivalence, pca, clustering, calibration, "
                  "unstable_items")


def _statements(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze", help="seed analysis of a run folder: spread, pretraining-seed share, Multi-Bootstrap CIs, PCA, "
                        "clustering, calibration of pretrained checkpoints, seed-unstable items -> RUNDIR/analysis.json",
        description="Reads RUNDIR/scores.parquet and RUNDIR/predictions/<test>/ (never models), writes "
                    "RUNDIR/analysis.json atomically and prints the key table. Statements the family cannot support "
                    "(e.g. one pretraining seed) are skipped with the reason, unless named with --only.")
    parser.add_argument("rundir", help="run folder with scores.parquet (e.g. runs/tiny, or an `evaluate --out`)")
    parser.add_argument("--only", type=_statements, default=None, metavar="LIST",
                        help=f"comma-separated statements to compute, each required to succeed ({STATEMENT_LIST})")
    parser.add_argument("--nboot", type=int, default=1000, help="bootstrap samples and permutations (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--occupation-stats", type=path_value("--occupation-stats"), default=None, metavar="TSV",
                        help="occupations-stats.tsv to use instead of the shipped BLS figures")
    parser.add_argument("--iid-margin", action="append", default=[], metavar="METRIC=MARGIN",
                        help="iid-equivalence margin for an iid metric, repeatable (e.g. coref/dev_accuracy=0.02 or "
                             "dev_pearson=0.05; defaults: dev_accuracy 0.01, dev_pearson and dev_spearman 0.03)")
    parser.add_argument("--unstable-items", type=positive_int("--unstable-items"), default=None, metavar="N",
                        help="print the N most seed-unstable items, templates and occupations of each test (variance "
                             "across models, split between and within pretraining seeds), and keep N in "
                             "analysis.json (default 10)")
    parser.add_argument("--no-write", action="store_true", help="print the table without writing analysis.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.analysis.display import analysis_table, unstable_table
    from nlp_underspec.analysis.equivalence import parse_margin
    from nlp_underspec.analysis.statements import ANALYSIS, STATEMENTS, analyze
    from nlp_underspec.data.occupations import load_occupation_stats
    from nlp_underspec.io import check_output_path
    from nlp_underspec.seeding import check_seed

    check_nboot(args.nboot)
    stats = load_occupation_stats(args.occupation_stats) if args.occupation_stats is not None else None
    if not args.no_write and Path(args.rundir).is_dir():  # a folder that cannot take analysis.json fails now, not after
        check_output_path(Path(args.rundir) / ANALYSIS, folder=False, fix=NO_WRITE_FIX)
    statements = list(args.only or STATEMENTS)
    if args.unstable_items is not None and "unstable_items" not in statements:
        statements.append("unstable_items")
    margins = dict(parse_margin(spec) for spec in args.iid_margin)
    analysis = analyze(args.rundir, nboot=args.nboot, seed=check_seed("--seed", args.seed), statements=statements,
                       strict=args.only or (), occupation_stats=stats, iid_margins=margins, write=not args.no_write,
                       **({} if args.unstable_items is None else {"unstable_top": args.unstable_items}))
    print(analysis_table(analysis))
    if args.unstable_items is not None:
        print("\n" + unstable_table(analysis, args.unstable_items))
    if not args.no_write:
        print(f"\nwrote {args.rundir.rstrip('/')}/{ANALYSIS}")
    return 0
