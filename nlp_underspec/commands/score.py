"""``nlp-underspec score --predictions DIR --out DIR``: re-score existing predictions triplets, loading no model.

``--predictions`` may be a results folder (``predictions/<test>/``), a folder of ``<test>/`` triplets, or one triplet
(its test from ``--test`` or the folder name), from this toolkit or from elsewhere (a MultiBERTs-style
run_info/label_info/preds set). ``--out`` receives the triplets, ``scores.parquet`` and ``summary.json``.
"""

from __future__ import annotations

import argparse

from nlp_underspec.commands.options import add_scoring_options, path_value


def register(subparsers) -> None:
    parser = subparsers.add_parser("score", help="re-score predictions triplets without loading any model",
                                   description=__doc__.splitlines()[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", required=True, type=path_value("--predictions"), metavar="DIR",
                        help="results folder, folder of <test>/ triplets, or one triplet folder")
    parser.add_argument("--test", default=None, help="the stress test of a single triplet folder (default: its name)")
    add_scoring_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from nlp_underspec import evaluation
    from nlp_underspec.records import config_hash
    from nlp_underspec.stress import load_plugin

    for module in args.plugin:
        load_plugin(module)
    predictions = evaluation.find_triplets(args.predictions, test=args.test)
    stats, stats_source = evaluation.resolve_occupation_stats(args.occupation_stats)
    settings = {"command": "score", "predictions": str(args.predictions.resolve()), "tests": list(predictions),
                "occupation_stats": stats_source, "n_boot": args.n_boot, "seed": args.seed}
    digest = config_hash(settings)
    inputs = [args.predictions, args.occupation_stats]  # what --overwrite must never delete
    evaluation.check_out(args.out, config_hash=digest, overwrite=args.overwrite, inputs=inputs)
    scores, entries = evaluation.score_triplets(predictions, occupation_stats=stats, n_boot=args.n_boot, seed=args.seed)
    evaluation.write_results(args.out, predictions, scores=scores, summary_models=entries, n_boot=args.n_boot,
                             seed=args.seed, config_hash=digest, overwrite=args.overwrite, inputs=inputs,
                             extra_summary={"settings": settings})
    print(evaluation.results_table(entries, list(predictions)))
    print(f"wrote {args.out}/ (summary.json, scores.parquet, predictions/)")
    return 0
