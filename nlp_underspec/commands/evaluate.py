"""``nlp-underspec evaluate MODEL...``: run stress tests on any checkpoints and write one results folder.

Writes ``predictions/<test>/`` (triplets), ``scores.parquet`` and ``summary.json`` into ``--out``, all or nothing, and
prints a table with ↑ / ↓ / →0 per metric.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nlp_underspec.seeding import DRAWS_MAX, THREADS_MAX

logger = logging.getLogger(__name__)

BAD_DATA_OPTION = "--data {value!r} must look like TEST=PATH (e.g. --data my_test=data/my_test.tsv)."
DATA_UNKNOWN_TEST = "--data {value!r}: {unknown}"
DATA_TEST_NOT_RUN = ("--data {value!r} gives data to '{name}', which is not among --tests ({tests}): it would be "
                     "ignored. Add {name} to --tests, or drop that --data.")
DATA_TWICE = "--data names '{name}' twice ({first} and {second}). Pass one path per test."
POSITIVE_INT = "{flag} must be a positive integer, got {value!r}."
SEED_INT = "{flag} must be a non-negative integer (at most {most}), got {value!r}."
STSB_SPLIT_OF_FILE = ("--stsb-split {split} picks a split of an STS-B folder or Hub dataset, but --stsb {path} is one "
                      "file, which is read whole. Leave out --stsb-split, or pass the folder that holds the splits.")
EMPTY_PATH = "{flag} needs a path, got an empty value."

EPILOG = """\
data layouts:
  --stsb        the STS Benchmark folder (sts-train/dev/test.csv), the GLUE STS-B folder (train/dev/test.tsv),
                a .csv/.tsv/.json/.jsonl file with sentence1,sentence2[,label], or a Hub id (nyu-mll/glue)
  --winogender  the Winogender repository's data/ folder (all_sentences.tsv [+ occupations-stats.tsv]),
                an all_sentences.tsv file, or a Hub id with sentid,sentence columns

example:
  nlp-underspec evaluate google/multiberts-seed_0 google/multiberts-seed_1 --tests winogender \\
      --winogender ../shared/data/winogender/data --seed-pattern 'seed_(?P<pretrain_seed>\\d+)' --out results/
"""


def positive_int(flag: str, most: int | None = None):
    """argparse type: argparse turns the error into its usage message and exit code 2. ``most``: the upper bound of a
    draw or thread count (:data:`~nlp_underspec.seeding.DRAWS_MAX`, :data:`~nlp_underspec.seeding.THREADS_MAX`)."""
    from nlp_underspec.seeding import too_large

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
    from nlp_underspec.seeding import SEED_MAX

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


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``score``: statistics, bootstrap, plugins, output."""
    parser.add_argument("--out", required=True, type=path_value("--out"),
                        help="results folder (created; refused if it holds another run, unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it holds a different run (only a results folder of ours: never a "
                             "checkpoint, data, or a folder a running sweep holds)")
    parser.add_argument("--occupation-stats", type=path_value("--occupation-stats"), default=None,
                        help="occupations-stats.tsv with bls_pct_female for the 60 occupations (default: the one "
                             "beside --winogender sentences, else the table shipped with the package)")
    parser.add_argument("--n-boot", type=positive_int("--n-boot", DRAWS_MAX), default=1000,
                        help="bootstrap resamples of occupations for the 95%% CIs (default 1000)")
    parser.add_argument("--seed", type=seed_int("--seed"), default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE to register more stress tests (repeatable)")


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="run stress tests on any checkpoints (folders or Hub ids)",
                                   description=__doc__.splitlines()[0], epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL", help="checkpoint folder or Hugging Face Hub id")
    parser.add_argument("--tests", default="sts_gender,winogender",
                        help="comma-separated stress tests (default: sts_gender,winogender)")
    parser.add_argument("--stsb", help="STS-B data for sts_gender (see layouts below)")
    parser.add_argument("--stsb-split", default=None, choices=("train", "dev", "test"),
                        help="STS-B split whose 'A man'/'A woman' sentences are the templates, of a folder or Hub "
                             "dataset (default: test; a single file is read whole)")
    parser.add_argument("--winogender", help="Winogender data (see layouts below)")
    parser.add_argument("--data", action="append", default=[], metavar="TEST=PATH",
                        help="data for a plugin stress test (repeatable)")
    parser.add_argument("--sts-scorer", default="auto", choices=("auto", "cross", "bi"),
                        help="sts_gender similarity: cross-encoder head, or mean-pooled cosine (default: cross when "
                             "the checkpoint has a 1-label classification head, else bi)")
    parser.add_argument("--resolver", default="auto",
                        help="winogender resolver: auto, mlm_probe, coref_head or cross_encoder (default auto: "
                             "coref_head or cross_encoder when the checkpoint was fine-tuned with that coref head, "
                             "else mlm_probe)")
    parser.add_argument("--seed-pattern", default=None, metavar="REGEX",
                        help="regex with named groups pretrain_seed / finetune_seed over the model name or path, for "
                             "checkpoints without run.json or card metadata")
    parser.add_argument("--batch-size", type=positive_int("--batch-size"), default=256,
                        help="sequences per forward pass (default 256; inputs are length-sorted, so padding is small)")
    parser.add_argument("--threads", type=positive_int("--threads", THREADS_MAX), default=None,
                        help="torch CPU threads (default: torch's choice; on a busy shared machine 1 is often fastest)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow checkpoints that ship their own Python code (runs that code: only if you trust "
                             "its author)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_scoring_options(parser)
    parser.set_defaults(func=run)


def _data_sources(args, tests: list[str]) -> dict[str, str]:
    """``--data TEST=PATH`` options, each naming a test this run runs (data for another one would be ignored)."""
    from nlp_underspec.errors import UsageError, unknown_name_message
    from nlp_underspec.stress import available_stress_tests

    sources = {}
    for item in args.data:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise UsageError(BAD_DATA_OPTION.format(value=item))
        if name not in available_stress_tests():
            raise UsageError(DATA_UNKNOWN_TEST.format(value=item, unknown=unknown_name_message(
                "stress test", name, available_stress_tests())))
        if name not in tests:
            raise UsageError(DATA_TEST_NOT_RUN.format(value=item, name=name, tests=", ".join(tests)))
        if name in sources:
            raise UsageError(DATA_TWICE.format(name=name, first=sources[name], second=path))
        sources[name] = path
    return sources


def _stsb_split(args, source) -> str | None:
    """The split sts_gender reads, as recorded: None for one file (read whole, whatever the split), where an explicit
    --stsb-split would be ignored and so is refused."""
    from nlp_underspec.errors import UsageError

    if Path(source).is_file():
        if args.stsb_split is not None:
            raise UsageError(STSB_SPLIT_OF_FILE.format(split=args.stsb_split, path=source))
        return None
    return args.stsb_split or "test"


def run(args) -> int:
    from nlp_underspec import evaluation
    from nlp_underspec.errors import UsageError
    from nlp_underspec.models import pick_device
    from nlp_underspec.records import config_hash
    from nlp_underspec.stress import PredictOptions, get_stress_test, load_plugin, parse_test_names

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for module in args.plugin:
        load_plugin(module)
    tests = parse_test_names(args.tests)
    extra_sources = _data_sources(args, tests)
    sources, splits = {}, {}
    for test in tests:
        option = get_stress_test(test).data_option
        source = extra_sources.get(test) or (getattr(args, option, None) if option else None) or \
            get_stress_test(test).default_source
        if not source:
            raise UsageError(evaluation.NO_DATA.format(test=test, option=option or f"data {test}=PATH"))
        sources[test] = source
        splits[test] = _stsb_split(args, source) if option == "stsb" else None
    pick_device(args.device)  # an unknown or absent device fails now, not after the data is read
    models = evaluation.model_refs(args.models, seed_pattern=args.seed_pattern)
    stats, stats_source = evaluation.resolve_occupation_stats(args.occupation_stats,
                                                              winogender_source=sources.get("winogender"))
    options = PredictOptions(batch_size=args.batch_size, device=args.device, trust_remote_code=args.trust_remote_code,
                             sts_scorer=args.sts_scorer, resolver=args.resolver, progress=not args.no_progress)
    settings = {"command": "evaluate", "models": [m.checkpoint for m in models], "tests": tests, "data": sources,
                "splits": splits, "sts_scorer": args.sts_scorer, "resolver": args.resolver,
                "occupation_stats": stats_source, "n_boot": args.n_boot, "seed": args.seed}
    digest = config_hash(settings)
    # What --overwrite must never delete: the checkpoints and data this command reads.
    inputs = [m.checkpoint for m in models] + list(sources.values()) + [args.occupation_stats]
    evaluation.check_out(args.out, config_hash=digest, overwrite=args.overwrite, inputs=inputs)
    evaluation.check_models(tests, models, options=options)
    # Build every test's items before loading any model: data errors surface in seconds, not after the first model.
    items = {test: get_stress_test(test).build_items(source=sources[test], split=splits[test]) for test in tests}
    predictions = {test: evaluation.predict_test(test, models, label_info=items[test], options=options)
                   for test in tests}
    scores, entries = evaluation.score_triplets(predictions, occupation_stats=stats, n_boot=args.n_boot, seed=args.seed)
    evaluation.write_results(args.out, predictions, scores=scores, summary_models=entries, n_boot=args.n_boot,
                             seed=args.seed, config_hash=digest, overwrite=args.overwrite, inputs=inputs,
                             extra_summary={"settings": settings})
    print(evaluation.results_table(entries, tests))
    print(f"wrote {args.out}/ (summary.json, scores.parquet, predictions/)")
    return 0
