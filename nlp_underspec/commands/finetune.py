"""``nlp-underspec finetune RECIPE --task stsb|coref --from CKPT --finetune-seed F --out DIR``: one fine-tuning run.

``--from`` is a pretraining run folder, any folder saved with ``save_pretrained``, or a Hub id. The fine-tuning seed
derives ``init_seed`` (head init, dropout) and ``data_seed`` (shuffle order) unless they are given.
"""

from __future__ import annotations

import argparse

from nlp_underspec.commands.options import add_training_options, seed_int, training_parser, training_recipe


def register(subparsers) -> None:
    parser = training_parser(subparsers, "finetune", help="fine-tune a checkpoint on stsb or coref with one fine-tuning "
                             "seed", description=__doc__.splitlines()[0],
                             recipe_help="recipe YAML with a finetune.tasks.<task> section")
    parser.add_argument("--task", required=True, help="stsb (regression head) or coref (candidate-scoring head)")
    parser.add_argument("--from", dest="from_checkpoint", required=True, metavar="CKPT",
                        help="pretraining run folder, save_pretrained folder or Hub id")
    parser.add_argument("--finetune-seed", type=seed_int("--finetune-seed"), required=True,
                        help="derives init_seed and data_seed")
    parser.add_argument("--init-seed", type=seed_int("--init-seed"), default=None, help="pin head init and dropout")
    parser.add_argument("--data-seed", type=seed_int("--data-seed"), default=None, help="pin the shuffle order")
    parser.add_argument("--pretrain-seed", type=seed_int("--pretrain-seed"), default=None,
                        help="pretraining seed to record for an outside checkpoint (a run folder's own seed wins)")
    add_training_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.training import finetune
    from nlp_underspec.training.finetune_tasks import get_task

    get_task(args.task)  # an unknown task fails before the recipe is read
    recipe = training_recipe(args)
    record = finetune(recipe, task=args.task, from_checkpoint=args.from_checkpoint, finetune_seed=args.finetune_seed,
                      init_seed=args.init_seed, data_seed=args.data_seed, pretrain_seed=args.pretrain_seed,
                      out=args.out, log_with=args.log_with, overwrite=args.overwrite, inputs=[args.recipe])
    dev = {k: v for k, v in record.metrics.items() if k.startswith("dev_")}
    shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in dev.items())
    print(f"{record.run_id} ({args.task}): {record.status} in {args.out} ({shown})")
    return 0
