"""The ``nlp-underspec`` command line: dispatches to one module per subcommand under ``nlp_underspec.commands``.

User errors (:class:`~nlp_underspec.errors.UsageError`) print one line to stderr and exit with code 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from nlp_underspec import __version__
from nlp_underspec.errors import EXIT_USAGE, UsageError

# Order is the order of `nlp-underspec --help`: the data flow, left to right.
COMMANDS = (
    "pretrain",
    "finetune",
    "evaluate",
    "score",
    "run",
    "status",
    "analyze",
    "compare",
    "report",
    "card",
    "push",
)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad flags already; keep its message but in our one-line style."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nlp-underspec", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"nlp_underspec.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
