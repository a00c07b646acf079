"""``nlp-underspec multibootstrap``: Multi-Bootstrap of MultiBERTs-style arrays with a built-in or your own score.

The inputs are the reference implementation's: a run table (``seed``, ``intervention``), ``preds [n_runs,
n_examples]`` and ``labels [n_examples]``, read from a TSV and two ``.npy`` files. The arrays are loaded with
``allow_pickle=False`` always: a ``.npy`` may come from anywhere, and unpickling one runs whatever code it holds.

``--score-fn FILE.py:NAME`` imports the user's file and runs it: that is what the user asks for by naming it, and the
help says so. A function from the file is wrapped so that worker processes (``--workers`` with a function that is not
batched) import the file again by path instead of unpickling it by module name, which a spawned process could not
resolve: a file loaded by path is no importable module.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
from pathlib import Path

from nlp_underspec.commands.options import check_json_out, path_value, positive_int, seed_int
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.seeding import DRAWS_MAX, THREADS_MAX

BUILTIN = "builtin"
BUILTINS = ("accuracy", "mean_squared_error", "pearson_r", "spearman_r")  # nlp_underspec.stress's vectorised scores
SCORE_FN_SYNTAX = ("--score-fn must be builtin:NAME (one of {builtins}) or FILE.py:NAME (a function in your own "
                   "Python file), got {value!r}.")
UNKNOWN_BUILTIN_FIX = " Or pass FILE.py:NAME for a function of your own."
SCORE_FILE_MISSING = ("--score-fn file {path} does not exist. Pass the path of the Python file that defines your score "
                      "function, as FILE.py:NAME.")
SCORE_FILE_FAILED = ("--score-fn file {path} failed to import ({error}). Fix the file so that `python {path}` runs "
                     "without errors, then run the command again.")
SCORE_NAME_MISSING = ("--score-fn file {path} defines no '{name}' (its functions: {found}). Pass FILE.py:NAME with "
                      "the name of your score function.")
SCORE_NOT_CALLABLE = ("--score-fn {path}:{name} is a {kind}, not a function. NAME must name a function "
                      "score_fn(y_true, y_pred) -> float defined in the file.")
INPUT_MISSING = "{flag} {path} does not exist. {what}"
NOT_NPY = "{flag} {path} is not a .npy file (it has no NUMPY header). Save the array with numpy.save(path, array)."
NPY_PICKLED = ("{flag} {path} holds Python objects (an object array), and .npy files are never unpickled here: that "
               "could run code. Save a numeric or string array, e.g. numpy.save(path, numpy.asarray(values, "
               "dtype=float)).")
NPY_UNREADABLE = "{flag} {path} cannot be read as a .npy array ({error}). Save it again with numpy.save(path, array)."
RUN_INFO_UNREADABLE = ("--run-info {path} cannot be read as a tab-separated table ({error}). Write one row per run "
                       "with a header line naming the columns seed and intervention.")
WHAT = {"--run-info": "Pass the run table: a TSV with one row per run and columns seed and intervention.",
        "--preds": "Pass the predictions: a .npy array [n_runs, n_examples], row i for run i of --run-info.",
        "--labels": "Pass the labels: a .npy array [n_examples], one per column of --preds."}
OUT_FIX = "Pass a file path for --out (e.g. multibootstrap.json)."
OUT_NOT_OURS = ("--out {path} exists and is not a result written by nlp-underspec multibootstrap, so it is not "
                "replaced. Choose another --out (a new file, or an earlier result to replace).")
OUT_KEYS = {"summary", "score_fn", "settings", "inputs"}
TRUE_WORDS, FALSE_WORDS = ("true", "1"), ("false", "0")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "multibootstrap", help="Multi-Bootstrap of MultiBERTs-style arrays (run table, preds.npy, labels.npy) with a "
                               "built-in or your own score function",
        description="Resamples seeds and examples together (Sellam et al. 2022) and reports baseline, intervention "
                    "and delta = intervention - baseline with 95%% percentile intervals and a one-sided p-value: the "
                    "numbers of nlp_underspec.analysis.report_ci(multibootstrap(...)) with the same arguments. "
                    ".npy files are loaded without unpickling.")
    parser.add_argument("--run-info", required=True, type=path_value("--run-info"), metavar="TSV",
                        help="one row per run (the order of the rows of --preds): columns seed and intervention "
                             "(true/false, True/False or 1/0; false = baseline)")
    parser.add_argument("--preds", required=True, type=path_value("--preds"), metavar="NPY",
                        help="predictions, a .npy array [n_runs, n_examples]")
    parser.add_argument("--labels", required=True, type=path_value("--labels"), metavar="NPY",
                        help="labels, a .npy array [n_examples]")
    parser.add_argument("--score-fn", required=True, metavar="SPEC",
                        help=f"builtin:NAME ({', '.join(BUILTINS)}) or FILE.py:NAME, a function score_fn(y_true, "
                             "y_pred) -> float of your own (one that reduces along the last axis is scored a stack "
                             "of resamples at a time). FILE.py is imported and run, as you ask by naming it: pass "
                             "only a file you trust")
    parser.add_argument("--paired", action="store_true",
                        help="pair the arms by seed (one seed draw for both; the seeds must overlap)")
    parser.add_argument("--nboot", type=positive_int("--nboot", DRAWS_MAX), default=1000,
                        help="bootstrap samples (default 1000)")
    parser.add_argument("--seed", type=seed_int("--seed"), default=42,
                        help="seed of the draws: numpy RandomState(seed), the reference's stream (default 42)")
    parser.add_argument("--workers", type=positive_int("--workers", THREADS_MAX), default=None, metavar="N",
                        help="threads for a batched score function, spawned processes for one that is not (each "
                             "imports FILE.py again); default: threads for a batched one, else this process")
    parser.add_argument("--out", type=path_value("--out"), default=None, metavar="JSON",
                        help="also write the inputs' shapes, the settings and the summary to this JSON file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.analysis import multibootstrap, report_ci
    from nlp_underspec.commands.options import write_json_then_print
    from nlp_underspec.io import check_output_path

    if args.out is not None:  # a folder, an unwritable place or a file not ours fails now, not after the bootstrap
        check_output_path(args.out, folder=False, fix=OUT_FIX)
        check_json_out(args.out, OUT_KEYS, OUT_NOT_OURS)
    run_info = load_run_info(args.run_info)
    preds, labels = load_npy("--preds", args.preds), load_npy("--labels", args.labels)
    score_fn, source = resolve_score_fn(args.score_fn)
    samples = multibootstrap(run_info, preds, labels, score_fn, paired_seeds=args.paired, nboot=args.nboot,
                             rng=args.seed, workers=args.workers)
    summary = report_ci(samples)
    source["batched"] = batched_kind(score_fn, preds, labels, args.seed)
    document = {
        "inputs": {"run_info": str(args.run_info), "preds": str(args.preds), "labels": str(args.labels),
                   "runs": len(run_info), "preds_shape": list(preds.shape), "labels_shape": list(labels.shape),
                   "preds_dtype": str(preds.dtype), "labels_dtype": str(labels.dtype)},
        "settings": {"paired": bool(args.paired), "nboot": args.nboot, "seed": args.seed, "workers": args.workers},
        "score_fn": source,
        "summary": summary,
    }
    write_json_then_print(args.out, document, summary_table(document))
    return 0


# ------------------------------------------------------------------------------------------------ inputs
def _check_exists(flag: str, path: Path) -> None:
    if not path.is_file():
        raise UsageError(INPUT_MISSING.format(flag=flag, path=path, what=WHAT[flag]))


def load_npy(flag: str, path: Path):
    """One array, never unpickled; a missing file, another format and an object array each get their own message."""
    import numpy as np

    _check_exists(flag, path)
    try:
        with open(path, "rb") as handle:
            if handle.read(6) != b"\x93NUMPY":
                raise UsageError(NOT_NPY.format(flag=flag, path=path))
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):  # numpy's refusal to load an object array without unpickling it
            raise UsageError(NPY_PICKLED.format(flag=flag, path=path)) from None
        raise UsageError(NPY_UNREADABLE.format(flag=flag, path=path, error=err)) from None
    except (OSError, EOFError) as err:
        raise UsageError(NPY_UNREADABLE.format(flag=flag, path=path, error=err)) from None


def load_run_info(path: Path):
    """The run table as the library takes it: integer seeds where every seed is one (else as written), intervention
    flags as bools. Anything else is left as read, so the library's own checks name the column, value and row."""
    import pandas as pd

    _check_exists("--run-info", path)
    try:  # all text first: pandas' own guesses would read "1" and "true" of one column differently
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise UsageError(RUN_INFO_UNREADABLE.format(path=path, error=str(err).splitlines()[0])) from None
    table.columns = [str(column).strip() for column in table.columns]
    if "seed" in table.columns:
        table["seed"] = _seeds(table["seed"])
    if "intervention" in table.columns:
        table["intervention"] = [_flag(value) for value in table["intervention"]]
    return table


def _seeds(column) -> list:
    values = [value.strip() for value in column]
    if all(value.lstrip("-").isdigit() for value in values if value):
        return [int(value) if value else None for value in values]
    return [value or None for value in values]  # None: the library's "row N has no seed"


def _flag(value: str):
    word = value.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else value


# ------------------------------------------------------------------------------------------------ score function
def resolve_score_fn(spec: str):
    """``builtin:NAME`` or ``FILE.py:NAME`` -> (the callable, what it is for the JSON)."""
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier() or (where != BUILTIN and not where.endswith(".py")):
        raise UsageError(SCORE_FN_SYNTAX.format(builtins=", ".join(BUILTINS), value=spec))
    if where == BUILTIN:
        if name not in BUILTINS:
            raise UsageError(unknown_name_message("built-in score function", name, BUILTINS) + UNKNOWN_BUILTIN_FIX)
        import nlp_underspec.stress as stress

        return getattr(stress, name), {"spec": spec, "builtin": name, "path": None, "name": name}
    path = Path(where)
    found = load_file_function(str(path), name)
    wrapped = FileScore(str(path.resolve()), name, found) if inspect.isfunction(found) else found
    return wrapped, {"spec": spec, "builtin": None, "path": str(path.resolve()), "name": name}


def load_file_function(path: str, name: str):
    """``NAME`` of the user's file, imported by path; each way that fails is one message naming the file."""
    import sys

    if not Path(path).is_file():
        raise UsageError(SCORE_FILE_MISSING.format(path=path))
    module_name = f"_nlp_underspec_score_fn_{Path(path).stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # during the import only: dataclasses and typing look their module up there
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any failure of the user's code is the same answer
        detail = str(err).splitlines()[0] if str(err) else ""
        raise UsageError(SCORE_FILE_FAILED.format(path=path, error=f"{type(err).__name__}: {detail}".rstrip(": ")))
    finally:
        sys.modules.pop(module_name, None)
    if not hasattr(module, name):
        found = sorted(key for key, value in vars(module).items()
                       if inspect.isfunction(value) and value.__module__ == module_name and not key.startswith("_"))
        raise UsageError(SCORE_NAME_MISSING.format(path=path, name=name, found=", ".join(found) or "none"))
    value = getattr(module, name)
    if not callable(value):
        raise UsageError(SCORE_NOT_CALLABLE.format(path=path, name=name, kind=type(value).__name__))
    return value


def _reimport(path: str, name: str) -> FileScore:
    """How a worker process gets a :class:`FileScore`: the file imported again there, by path."""
    return FileScore(path, name, load_file_function(path, name))


class FileScore:
    """A function of the user's file, calling through unchanged; pickled as (path, name), not by module name."""

    def __init__(self, path: str, name: str, fn):
        self.path, self.fn = path, fn
        self.__name__ = name
        if getattr(fn, "batched", False) is True:  # a declaration on the function stays visible to the library
            self.batched = True

    def __call__(self, y_true, y_pred):
        return self.fn(y_true, y_pred)

    def __reduce__(self):
        return _reimport, (self.path, self.__name__)

    def __repr__(self) -> str:
        return f"{self.path}:{self.__name__}"


def batched_kind(score_fn, preds, labels, seed: int) -> str:
    """How the library scores it: built-in (its exact vectorised path), declared or detected batched, or row by row.
    The detection repeats the library's probe on a few resamples of this seed (it is a pure function of them)."""
    import numpy as np

    from nlp_underspec.analysis.batched import is_declared_batched, passes_probe
    from nlp_underspec.stress import MeanScore, RowwiseScore

    if isinstance(score_fn, (MeanScore, RowwiseScore)):
        return "built-in"
    if is_declared_batched(score_fn):
        return "declared"
    preds, labels = np.asarray(preds), np.asarray(labels)
    draws = np.random.RandomState(seed).randint(0, labels.shape[0], size=(8, labels.shape[0]))
    return "detected" if passes_probe(score_fn, preds, labels, draws) else "no (row by row)"


# ------------------------------------------------------------------------------------------------ output
def summary_table(document: dict) -> str:
    """Baseline, intervention and delta with their interval, and the delta's one-sided p-value."""
    from nlp_underspec.formatting import significant

    summary, settings, inputs = document["summary"], document["settings"], document["inputs"]
    level = f"{summary['c']:.0%}"
    rows = [[label, significant(summary[key]["mean"], 4),
             f"[{significant(summary[key]['low'], 4)}, {significant(summary[key]['high'], 4)}]",
             significant(summary[key]["p"]) if key == "delta" else ""]
            for label, key in (("baseline", "base"), ("intervention", "expt"), ("delta", "delta"))]
    header = ["", "mean", f"{level} CI", "p (delta <= 0)"]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, ["-" * w for w in widths], *rows]]
    mode = "paired" if settings["paired"] else "unpaired"
    title = (f"Multi-Bootstrap ({mode}, nboot {settings['nboot']}, seed {settings['seed']}) of "
             f"{document['score_fn']['spec']} on {inputs['preds_shape'][0]} runs x {inputs['preds_shape'][1]} "
             f"examples (batched: {document['score_fn']['batched']})")
    return title + "\n\n" + "\n".join(lines)
