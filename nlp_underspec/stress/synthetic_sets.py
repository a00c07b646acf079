"""The synthetic world's stress sets: one per registered stress test that offers one (``StressTest.synthetic_set``),
so a plugin test with a synthetic set is written beside the built-in ones with no edit here.

Each set is keyed by what ``nlp-underspec evaluate`` takes its data by: the test's ``data_option`` flag (``--stsb``,
``--winogender``) or else its name (``--data calibration=``). This is the stress layer's view of the world; the world
(:mod:`nlp_underspec.synthetic`) writes whatever sets it is handed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from nlp_underspec import synthetic
from nlp_underspec.config import WorldConfig, apply_overrides, recipe_from_dict
from nlp_underspec.errors import UsageError
from nlp_underspec.stress.registry import available_stress_tests, get_stress_test


def synthetic_sets() -> dict[str, synthetic.SyntheticSet]:
    """``{key: set}`` of every registered test with a synthetic set, tests with a data flag of their own first (then
    by name): the order world.json lists them in."""
    tests = [get_stress_test(name) for name in available_stress_tests()]
    tests = sorted((test for test in tests if test.synthetic_set is not None),
                   key=lambda test: (test.data_option is None, test.name))
    return {test.data_option or test.name: test.synthetic_set for test in tests}


def write_stress_sets(world: synthetic.World, folder: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Path]:
    """Write only the stress sets under ``folder``: ``{key: path}`` (e.g. ``"stsb": folder/sts-test.tsv``).

    Idempotent: a folder that already holds this world's stress sets is left as it is (sweeps call this per run).
    """
    return synthetic.write_stress_sets(world, folder, synthetic_sets(), overwrite=overwrite)


def materialize_stress_sets(world: synthetic.World | WorldConfig, folder: str | os.PathLike) -> dict[str, Path]:
    """Write the world's stress sets under ``folder``; returns ``{key: path}`` (``"stsb"``, ``"winogender"``,
    ``"calibration"`` for the built-in tests), paths that ``nlp-underspec evaluate --stsb/--winogender/--data
    calibration=`` accept. ``world`` is a World or a WorldConfig. Idempotent."""
    return write_stress_sets(synthetic.as_world(world), folder)


def write_full_world(world: synthetic.World, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """The whole world under ``folder`` (:func:`nlp_underspec.synthetic.write_world`), with every test's set."""
    return synthetic.write_world(world, folder, stress_sets=synthetic_sets(), overwrite=overwrite)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nlp_underspec.synthetic", description=main.__doc__.split(":")[0])
    parser.add_argument("out", help="folder to write (replaced if it holds an earlier world)")
    parser.add_argument("--seed", type=int, default=None, help="the world's seed (default 0)")
    parser.add_argument("--bias-strength", type=float, default=None, help="0 = no association, 1 = BLS (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any world field, e.g. --set world.n_corpus_sentences=20000")
    parser.add_argument("--overwrite", action="store_true",
                        help="kept for scripts: an earlier world is replaced anyway, and a folder holding anything "
                             "else never is")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m nlp_underspec.synthetic OUT [--seed S] [--bias-strength B] [--set world.KEY=VALUE]``: write a
    world."""
    args = _parser().parse_args(argv)
    overrides = list(args.set)
    overrides += [f"world.seed={args.seed}"] if args.seed is not None else []
    overrides += [f"world.bias_strength={args.bias_strength}"] if args.bias_strength is not None else []
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = recipe_from_dict(apply_overrides({}, overrides), where="command line").world
        folder = write_full_world(synthetic.build_world(config), args.out, overwrite=args.overwrite)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(folder)
    return 0
