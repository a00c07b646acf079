"""``nlp-underspec pretrain RECIPE --pretrain-seed P --out DIR``: one seeded, resumable MLM pretraining run.

Runs the same code under ``accelerate launch -m nlp_underspec pretrain ...`` (devices and mixed precision then come
from the accelerate config). Re-running into an unfinished run folder resumes it; into a finished one does nothing.
"""

from __future__ import annotations

import argparse

from nlp_underspec.commands.evaluate import path_value, seed_int


def register(subparsers) -> None:
    parser = subparsers.add_parser("pretrain", help="pretrain a BERT from scratch with one pretraining seed",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="recipe YAML (e.g. recipes/tiny.yaml)")
    parser.add_argument("--pretrain-seed", type=seed_int("--pretrain-seed"), required=True,
                        help="sets weight init and data order")
    parser.add_argument("--out", required=True, type=path_value("--out"),
                        help="run folder (created; resumed when it holds an unfinished run)")
    add_common_arguments(parser)
    parser.set_defaults(func=run)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``pretrain`` and ``finetune``."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set pretrain.max_steps=100 (repeatable)")
    parser.add_argument("--log-with", action="append", default=None, metavar="TRACKER",
                        help="experiment tracker (tensorboard, trackio, ...; repeatable); default: the recipe's log_with")
    parser.add_argument("--overwrite", action="store_true",
                        help="start --out again even if it holds another run (only a run folder of ours: never the "
                             "recipe, checkpoint or data it reads, or a run a sweep is running)")


def quiet_library_logs() -> None:
    """accelerate logs every state save at INFO and transformers draws a bar per save; keep the console to our own
    progress and results."""
    import logging

    from transformers.utils import logging as hf_logging

    for name in ("accelerate", "accelerate.checkpointing", "accelerate.accelerator", "accelerate.utils.other"):
        logging.getLogger(name).setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()  # "Writing model shards" bars for every checkpoint


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.config import load_recipe
    from nlp_underspec.training import pretrain

    quiet_library_logs()
    recipe = load_recipe(args.recipe, args.overrides)
    record = pretrain(recipe, pretrain_seed=args.pretrain_seed, out=args.out, log_with=args.log_with,
                      overwrite=args.overwrite, where=args.recipe, inputs=[args.recipe])
    metrics = record.metrics
    print(f"{record.run_id}: {record.status} in {args.out} (steps {metrics.get('steps')}, "
          f"final loss {metrics.get('final_loss', float('nan')):.4f}, "
          f"{metrics.get('tokens_per_second', 0):.0f} tokens/s)")
    return 0
