"""``nlp-underspec eval-results PATH``: read the ``.eval_results/*.yaml`` files beside a card (or in a staged repo).

``card RUNDIR`` writes them beside every checkpoint's card and ``push --dry-run --staging DIR`` into every repo's
folder; this shows them as a table (or ``--json``), parsed back by :func:`nlp_underspec.cards.read_eval_results`, so
a user checks what the Hub will show before pushing. The files are only read, with a safe YAML loader.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval-results", help="show the .eval_results/*.yaml files of a card folder or staged repo (table or JSON)",
        description="Read the Hub's newer evaluation results (huggingface_hub's EvalResultEntry files, one per "
                    "stress-test and iid metric) that `nlp-underspec card` writes beside each card and `push "
                    "--dry-run --staging` into each repo, and print them: test, metric, value, 95% interval, seeds "
                    "and any other notes.")
    parser.add_argument("path", help="a folder holding .eval_results/ (e.g. runs/tiny/cards/p00-f00-stsb, a staged "
                                     "repo folder), that .eval_results/ folder, or one .yaml file of it")
    parser.add_argument("--json", action="store_true",
                        help="print the entries as JSON (every field, values exactly as in the files)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nlp_underspec.cards import read_eval_results
    from nlp_underspec.io import to_json

    results = read_eval_results(args.path)
    if args.json:
        print(to_json({"path": args.path, "results": [_as_json(result) for result in results]}), end="")
    else:
        print(results_table(results))
    return 0


def _as_json(result) -> dict:
    """The entry's fields under the names of :class:`~nlp_underspec.cards.StoredEvalResult` (the Python API's)."""
    import dataclasses

    entry = dataclasses.asdict(result)
    entry["ci95"] = list(result.ci95) if result.ci95 is not None else None
    return entry


def results_table(results) -> str:
    """One row per entry, in file order; the interval's method once below (every stress test's is the same)."""
    from nlp_underspec.formatting import DASH, significant

    def seed(value) -> str:
        return DASH if value is None else str(value)

    header = ["test", "metric", "value", "95% CI", "pretrain seed", "finetune seed"]
    rows = [[r.dataset_id, r.task_id, significant(r.value, 4),
             f"[{significant(r.ci95[0])}, {significant(r.ci95[1])}]" if r.ci95 else DASH,
             seed(r.pretrain_seed), seed(r.finetune_seed)] for r in results]
    if any(r.other_notes for r in results):  # a person's notes: shown as written, only when some file has them
        header.append("notes")
        for row, result in zip(rows, results):
            row.append(result.other_notes or "")
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, ["-" * w for w in widths], *rows]]
    methods = sorted({r.ci95_method for r in results if r.ci95 is not None and r.ci95_method})
    lines += [f"95% CI: {method}" for method in methods]
    return "\n".join(lines)
