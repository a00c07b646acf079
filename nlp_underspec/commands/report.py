"""``nlp-underspec report RUNDIR``: the experiment's HTML report with figures (RUNDIR/report/index.html)."""

from __future__ import annotations

import argparse

from nlp_underspec.commands.options import path_value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write RUNDIR/report/index.html with figures (PNG and SVG)",
        description="Build a self-contained HTML report (figures embedded; PNG and SVG copies in figures/) from "
                    "summary.json, scores.parquet and analysis.json. Reads the folder, never writes into its results. "
                    "Given the folder `compress --out` wrote, it reports the family that folder names with a "
                    "Compression stress section, into that folder's report/ (a level folder of it gets the section "
                    "too).")
    parser.add_argument("rundir", help="experiment folder holding summary.json (e.g. runs/tiny), or the folder "
                                       "`nlp-underspec compress --out` wrote")
    parser.add_argument("--compression", type=path_value("--compression"), metavar="FILE",
                        help="compression.json of `nlp-underspec compress` (or its folder) to add as the Compression "
                             "stress section")
    parser.add_argument("--out", help="report folder (default: RUNDIR/report)")
    parser.add_argument("--overwrite", action="store_true",
                        help="kept for scripts: an earlier report is replaced anyway, and a folder holding anything "
                             "else never is")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.report import build_report

    index = build_report(args.rundir, out=args.out, overwrite=args.overwrite, compression=args.compression)
    print(f"report: {index}")
    return 0
