"""What several subcommands share: argparse types that check a value where it is typed, the flag groups more than one
command takes, and the data flags of the registered stress tests (``--<data_option>``, generated from the registry so
that a test added there gets its flag with no edit here).
"""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path

from nlp_underspec.errors import UsageError
from nlp_underspec.io import read_json

from nlp_underspec.seeding import DRAWS_MAX, SEED_MAX, too_large
from nlp_underspec.stress import available_stress_tests, get_stress_test

POSITIVE_INT = "{flag} must be a positive integer, got {value!r}."
SEED_INT = "{flag} must be a non-negative integer (at most {most}), got {value!r}."
EMPTY_PATH = "{flag} needs a path, got an empty value."
LAYOUT_WIDTH = 118  # the epilog is printed as written (RawDescriptionHelpFormatter): wrapped here


# ------------------------------------------------------------------------------------------------------- value types
def positive_int(flag: str, most: int | None = None):
    """argparse type: argparse turns the error into its usage message and exit code 2. ``most``: the upper bound of a
    draw or thread count (:data:`~nlp_underspec.seeding.DRAWS_MAX`, :data:`~nlp_underspec.seeding.THREADS_MAX`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(POSITIVE_INT.format(flag=flag, value=text))
        if most is not None and (problem := too_large(value, most)):
            raise argparse.ArgumentTypeError(f"{flag} {problem}")
        return value

    return parse


def seed_int(flag: str):
    """argparse type of every seed flag: an integer in the range :func:`~nlp_underspec.seeding.check_seed` takes (a
    negative seed would fail deep inside numpy, after the models ran)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 0 <= value <= SEED_MAX:
            raise argparse.ArgumentTypeError(SEED_INT.format(flag=flag, most=SEED_MAX, value=text))
        return value

    return parse


def path_value(flag: str):
    """argparse type for a path option: an empty value (``--occupation-stats ""``, an unset shell variable) is an error,
    not a silent "use the default"."""

    def parse(text: str) -> Path:
        if not text.strip():
            raise argparse.ArgumentTypeError(EMPTY_PATH.format(flag=flag))
        return Path(text)

    return parse


def is_our_json(path, keys: set[str]) -> bool:
    """True when ``path`` is a JSON object holding every one of ``keys``: a document this toolkit wrote."""
    try:
        data = read_json(path)
    except (OSError, UnicodeDecodeError, ValueError, UsageError):  # not JSON: a file of the user's, never ours
        return False
    return isinstance(data, dict) and keys <= set(data)


def check_json_out(path, keys: set[str], message: str) -> None:
    """Write over nothing but an earlier document of the same kind (``keys``): ``--out`` could name a summary.json, a
    recipe or any file of the user's. ``message`` (with ``{path}``) is the refusal."""
    if os.path.lexists(path) and not (os.path.isfile(path) and is_our_json(path, keys)):
        raise UsageError(message.format(path=path))


def check_nboot(nboot: int) -> None:
    """``--nboot`` of the commands that resample (analyze, compare, select): at least one draw, and not so many that
    the draws would not fit in memory."""
    if nboot < 1:
        raise UsageError(f"--nboot must be a positive integer, got {nboot}.")
    if problem := too_large(nboot, DRAWS_MAX):
        raise UsageError(f"--nboot {problem}")


# ------------------------------------------------------------------------------------------------------- flag groups
def family_parser(subparsers, name: str, *, summary: str, details: str, rundir_help: str) -> argparse.ArgumentParser:
    """The parser of a command that reads one family folder (``select``, ``compress``): its one-line ``summary`` is
    the help and opens the description, ``details`` follow it."""
    parser = subparsers.add_parser(name, help=summary, description=summary + details)
    parser.add_argument("rundir", help=rundir_help)
    return parser


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``evaluate`` and ``score``: statistics, bootstrap, plugins, output."""
    parser.add_argument("--out", required=True, type=path_value("--out"),
                        help="results folder (created; refused if it holds another run, unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it holds a different run (only a results folder of ours: never a "
                             "checkpoint, data, or a folder a running sweep holds)")
    parser.add_argument("--occupation-stats", type=path_value("--occupation-stats"), default=None,
                        help="occupations-stats.tsv with bls_pct_female for the 60 occupations (default: the one "
                             "shipped beside a test's data, else the table shipped with the package)")
    parser.add_argument("--n-boot", type=positive_int("--n-boot", DRAWS_MAX), default=1000,
                        help="bootstrap resamples of occupations for the 95%% CIs (default 1000)")
    parser.add_argument("--seed", type=seed_int("--seed"), default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE to register more stress tests (repeatable)")


def add_occupation_stats_and_json_out(parser: argparse.ArgumentParser, *, what: str) -> None:
    """``--occupation-stats TSV`` and ``--out JSON`` of a command that reads families and may write one JSON document
    (``compare``, ``select``); ``what`` is the document (``the comparison``)."""
    parser.add_argument("--occupation-stats", type=path_value("--occupation-stats"), default=None, metavar="TSV",
                        help="occupations-stats.tsv to use instead of the shipped BLS figures")
    parser.add_argument("--out", type=path_value("--out"), default=None, metavar="JSON",
                        help=f"also write {what} to this JSON file")


def write_json_then_print(out, document, table: str) -> None:
    """Write ``document`` to ``out`` (when given), then print ``table`` and where the file went: the file first, so a
    reader that stops early (``| head``) loses no file."""
    from nlp_underspec.io import atomic_write_json

    if out is not None:
        atomic_write_json(out, document)
    print(table)
    if out is not None:
        print(f"\nwrote {out}")


def training_parser(subparsers, name: str, *, help: str, description: str,
                    recipe_help: str) -> argparse.ArgumentParser:
    """The parser of ``pretrain`` or ``finetune``, with its RECIPE; the command adds its own flags, then
    :func:`add_training_options`."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.add_argument("recipe", help=recipe_help)
    return parser


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``pretrain`` and ``finetune``: the run folder and how the recipe is read and logged."""
    parser.add_argument("--out", required=True, type=path_value("--out"),
                        help="run folder (created; resumed when it holds an unfinished run)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set pretrain.max_steps=100 (repeatable)")
    parser.add_argument("--log-with", action="append", default=None, metavar="TRACKER",
                        help="experiment tracker (tensorboard, trackio, ...; repeatable); default: the recipe's "
                             "log_with")
    parser.add_argument("--overwrite", action="store_true",
                        help="start --out again even if it holds another run (only a run folder of ours: never the "
                             "recipe, checkpoint or data it reads, or a run a sweep is running)")


def training_recipe(args: argparse.Namespace):
    """The recipe of a ``pretrain``/``finetune`` command (with its --set overrides), the libraries' logs quietened."""
    from nlp_underspec.config import load_recipe

    quiet_library_logs()
    return load_recipe(args.recipe, args.overrides)


def quiet_library_logs() -> None:
    """accelerate logs every state save at INFO and transformers draws a bar per save; keep the console to our own
    progress and results."""
    import logging

    from transformers.utils import logging as hf_logging

    for name in ("accelerate", "accelerate.checkpointing", "accelerate.accelerator", "accelerate.utils.other"):
        logging.getLogger(name).setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()  # "Writing model shards" bars for every checkpoint


# ------------------------------------------------------------------------------------------------- test data flags
def data_options() -> dict[str, str]:
    """{data option: test} of the registered tests that name their data with a flag of their own."""
    return {get_stress_test(test).data_option: test for test in available_stress_tests()
            if get_stress_test(test).data_option}


def add_data_options(parser: argparse.ArgumentParser, *, recipe_key: bool = False) -> None:
    """``--<data_option>`` of every registered test; with ``recipe_key`` (``run``) each stands for the recipe key
    ``evaluate.<data_option>``, else (``evaluate``) it may come with ``--<data_option>-split``. A plugin's option that
    another flag already takes gets none (``--data TEST=PATH`` still reaches it)."""
    for option, test in data_options().items():
        try:
            _add_data_option(parser, option, get_stress_test(test), recipe_key=recipe_key)
        except argparse.ArgumentError:
            continue


def _add_data_option(parser: argparse.ArgumentParser, option: str, stress_test, *, recipe_key: bool) -> None:
    if recipe_key:
        parser.add_argument(f"--{option}", help=f"data for {stress_test.name} instead of the recipe's (recipe: "
                                                f"evaluate.{option})")
        return
    parser.add_argument(f"--{option}", help=f"data for {stress_test.name} (see layouts below)")
    if stress_test.data_splits:
        parser.add_argument(f"--{option}-split", default=None, choices=stress_test.data_splits,
                            help=f"the split of a --{option} folder or Hub dataset to read (default: "
                                 f"{stress_test.default_split}; a single file is read whole)")


def data_layouts() -> str:
    """The epilog lines that say what each data flag takes."""
    lines = ["data layouts:"]
    for option, test in data_options().items():
        lines.append(textwrap.fill(get_stress_test(test).data_help or f"the data of {test}", width=LAYOUT_WIDTH,
                                   initial_indent=f"  --{option:<12}", subsequent_indent=" " * 16))
    return "\n".join(lines)


def data_overrides(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(recipe key, value) of the data flags ``run`` was given."""
    return [(f"evaluate.{option}", getattr(args, option, None)) for option in data_options()]
