"""``nlp-underspec run RECIPE --out DIR``: the whole grid end to end, resumable; see :mod:`nlp_underspec.sweep`."""

from __future__ import annotations

import argparse
from pathlib import Path

from nlp_underspec.commands.options import add_data_options, data_overrides, path_value
from nlp_underspec.stress import get_stress_test

EPILOG = """examples:
  nlp-underspec run recipes/tiny.yaml --out runs/tiny                 # the demo: synthetic world, 3x3 seeds
  nlp-underspec run recipes/tiny.yaml --out runs/tiny                 # again: nothing to do
  nlp-underspec run recipes/minilm-stsb.yaml --out runs/minilm --executor ray --ray-address auto
  nlp-underspec run recipes/tiny.yaml --out runs/tiny --set seeds.pretrain=[0,1,2,3]   # adds only the new runs
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run a recipe's seed grid end to end (train, evaluate, analyse, report)",
                                   description=__doc__, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", help="recipe YAML (see recipes/)")
    parser.add_argument("--out", required=True, type=path_value("--out"),
                        help="experiment folder (created; reused to resume)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set seeds.finetune=[0,1] (repeatable)")
    parser.add_argument("--executor", choices=("local", "ray"), help="where runs execute (recipe: sweep.executor)")
    parser.add_argument("--jobs", type=int, help="runs at a time for the local executor (recipe: sweep.jobs)")
    parser.add_argument("--ray-address", help="Ray cluster address, e.g. 'auto' (recipe: sweep.ray_address)")
    add_data_options(parser, recipe_key=True)
    parser.add_argument("--force-rerun", action="store_true",
                        help="redo runs whose recipe settings changed instead of refusing")
    parser.set_defaults(func=main)


def cli_overrides(args) -> list[str]:
    """Flags that are shorthands for recipe keys, as overrides applied after --set."""
    pairs = (("sweep.executor", args.executor), ("sweep.jobs", args.jobs), ("sweep.ray_address", args.ray_address),
             *data_overrides(args))
    return [f"{key}={value}" for key, value in pairs if value is not None]


def print_family_table(exp_dir: Path, tests) -> None:
    """The headline stress metrics of every scored model (pretrained checkpoints marked), as `evaluate` prints them."""
    from nlp_underspec.evaluation import results_table
    from nlp_underspec.results import read_summary

    models = read_summary(exp_dir)["models"]
    for entry in models:
        if entry.get("kind") == "pretrained":
            entry["model"] = f"{entry['model']} (pretrained, mlm_probe)"
    # The sweep scores the pretrained checkpoints on some tests whatever the recipe's (sweep.pipeline.pretrained_tests):
    # show them when they are there.
    scored = [test for entry in models for test in entry.get("tests", {})]
    shown = [*tests, *(test for test in scored if get_stress_test(test).runs_on_pretrained)]
    print(results_table(models, list(dict.fromkeys(shown))))


def main(args) -> int:
    from nlp_underspec.config import load_recipe
    from nlp_underspec.results import SUMMARY
    from nlp_underspec.sweep import run_sweep

    recipe = load_recipe(args.recipe, [*args.overrides, *cli_overrides(args)])
    result = run_sweep(recipe, args.out, force_rerun=args.force_rerun)
    for stage, why in result.stages_skipped.items():
        print(f"skipped {stage}: {why}")
    if "scores" in result.stages_done and (Path(args.out) / SUMMARY).is_file():  # none until a pair is trained
        print_family_table(Path(args.out), result.plan.tests)
    if result.ok:
        return 0
    print(f"{len(result.failed)} run(s) failed, {len(result.blocked)} blocked; `nlp-underspec run` again retries them:")
    for key, error in result.failed.items():
        print(f"  FAILED  {key}: {error.splitlines()[0]}  (log: {args.out}/{key}/log.txt)")
    for key, parent in result.blocked.items():
        print(f"  BLOCKED {key}: waits for {parent}")
    return 1
