"""``nlp-underspec pretrain RECIPE --pretrain-seed P --out DIR``: one seeded, resumable MLM pretraining run.

Runs the same code under ``accelerate launch -m nlp_underspec pretrain ...`` (devices and mixed precision then come
from the accelerate config). Re-running into an unfinished run folder resumes it; into a finished one does nothing.
"""

from __future__ import annotations

import argparse

from nlp_underspec.commands.options import add_training_options, seed_int, training_parser, training_recipe


def register(subparsers) -> None:
    parser = training_parser(subparsers, "pretrain", help="pretrain a BERT from scratch with one pretraining seed",
                             description=__doc__.splitlines()[0], recipe_help="recipe YAML (e.g. recipes/tiny.yaml)")
    parser.add_argument("--pretrain-seed", type=seed_int("--pretrain-seed"), required=True,
                        help="sets weight init and data order")
    add_training_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.training import pretrain

    recipe = training_recipe(args)
    record = pretrain(recipe, pretrain_seed=args.pretrain_seed, out=args.out, log_with=args.log_with,
                      overwrite=args.overwrite, where=args.recipe, inputs=[args.recipe])
    metrics = record.metrics
    print(f"{record.run_id}: {record.status} in {args.out} (steps {metrics.get('steps')}, "
          f"final loss {metrics.get('final_loss', float('nan')):.4f}, "
          f"{metrics.get('tokens_per_second', 0):.0f} tokens/s)")
    return 0
