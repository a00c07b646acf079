"""``nlp-underspec evaluate MODEL...``: run stress tests on any checkpoints and write one results folder.

Writes ``predictions/<test>/`` (triplets), ``scores.parquet`` and ``summary.json`` into ``--out``, all or nothing, and
prints a table with ↑ / ↓ / →0 per metric.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nlp_underspec.commands.options import add_data_options, add_scoring_options, data_layouts, positive_int
from nlp_underspec.config import EvaluateConfig
from nlp_underspec.seeding import THREADS_MAX
from nlp_underspec.stress import available_stress_tests, get_stress_test

logger = logging.getLogger(__name__)

BAD_DATA_OPTION = "--data {value!r} must look like TEST=PATH (e.g. --data my_test=data/my_test.tsv)."
DATA_UNKNOWN_TEST = "--data {value!r}: {unknown}"
DATA_TEST_NOT_RUN = ("--data {value!r} gives data to '{name}', which is not among --tests ({tests}): it would be "
                     "ignored. Add {name} to --tests, or drop that --data.")
DATA_TWICE = "--data names '{name}' twice ({first} and {second}). Pass one path per test."
SPLIT_OF_FILE = ("--{option}-split {split} picks a split of a folder or Hub dataset, but --{option} {path} is one "
                 "file, which is read whole. Leave out --{option}-split, or pass the folder that holds the splits.")
DEFAULT_TESTS = ",".join(EvaluateConfig.tests)


def _epilog() -> str:
    """The data layouts, and an example that scores pretrained checkpoints on a test a masked LM takes."""
    example = next((test for test in available_stress_tests() if get_stress_test(test).runs_on_pretrained
                    and get_stress_test(test).data_option), None)
    lines = [data_layouts()]
    if example is not None:
        option = get_stress_test(example).data_option
        lines += ["", "example:",
                  f"  nlp-underspec evaluate google/multiberts-seed_0 google/multiberts-seed_1 --tests {example} \\",
                  f"      --{option} DATA --seed-pattern 'seed_(?P<pretrain_seed>\\d+)' --out results/"]
    return "\n".join(lines) + "\n"


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="run stress tests on any checkpoints (folders or Hub ids)",
                                   description=__doc__.splitlines()[0], epilog=_epilog(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL", help="checkpoint folder or Hugging Face Hub id")
    parser.add_argument("--tests", default=DEFAULT_TESTS,
                        help=f"comma-separated stress tests (default: {DEFAULT_TESTS})")
    add_data_options(parser)
    parser.add_argument("--data", action="append", default=[], metavar="TEST=PATH",
                        help="data for a plugin stress test (repeatable)")
    parser.add_argument("--sts-scorer", default="auto", choices=("auto", "cross", "bi"),
                        help="STS similarity: cross-encoder head, or mean-pooled cosine (default: cross when "
                             "the checkpoint has a 1-label classification head, else bi)")
    parser.add_argument("--resolver", default="auto",
                        help="pronoun resolver: auto, mlm_probe, coref_head or cross_encoder (default auto: "
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


def _split(args, test: str, source) -> str | None:
    """The split of a test's data that it reads, as recorded: None for a test whose data has no splits, or for one
    file (read whole, whatever the split), where an explicit ``--<data_option>-split`` would be ignored and so is
    refused; else the flag's split or the test's default."""
    from nlp_underspec.errors import UsageError

    stress_test = get_stress_test(test)
    if not stress_test.data_splits:
        return None
    option = stress_test.data_option
    given = getattr(args, f"{option}_split", None)
    if Path(source).is_file():
        if given is not None:
            raise UsageError(SPLIT_OF_FILE.format(option=option, split=given, path=source))
        return None
    return given or stress_test.default_split


def run(args) -> int:
    from nlp_underspec import evaluation
    from nlp_underspec.errors import UsageError
    from nlp_underspec.models import pick_device
    from nlp_underspec.records import config_hash
    from nlp_underspec.stress import PredictOptions, load_plugin, parse_test_names

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
        splits[test] = _split(args, test, source)
    pick_device(args.device)  # an unknown or absent device fails now, not after the data is read
    models = evaluation.model_refs(args.models, seed_pattern=args.seed_pattern)
    stats, stats_source = evaluation.resolve_occupation_stats(args.occupation_stats, sources=sources)
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
