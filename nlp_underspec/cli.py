"""The ``nlp-underspec`` command line: dispatches to one module per subcommand under ``nlp_underspec.commands``.

User errors (:class:`~nlp_underspec.errors.UsageError`) print one line to stderr and exit with code 2, no traceback.

Standard output is where the tables go, so a command whose output cannot be written fails rather than exit 0 with the
results lost: stdout closed (``>&-``) or a write to it failing (a full disk, ``>/dev/full``) print one error and exit 2.
A closed pipe (``| head``) is the reader saying it has seen enough: the command stops quietly with 141, the status a
process killed by SIGPIPE has (what ``set -o pipefail`` scripts expect); files it had written by then stay written.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from nlp_underspec import __version__
from nlp_underspec.errors import EXIT_USAGE, UsageError

EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE: the shell's status for a writer whose reader went away
STDOUT_CLOSED = ("Standard output is closed, so the command's results would be lost. Run it with its output going to "
                 "a terminal, a file or a pipe (not `>&-`).")
STDOUT_FAILED = ("Cannot write the results to standard output ({reason}): they are incomplete. Send the output "
                 "somewhere with room (another file or disk, a pipe) and run the command again.")
CWD_GONE = ("The current folder no longer exists (it was deleted or moved while you were in it), so relative paths "
            "mean nothing. cd into an existing folder and run the command again.")

# Order is the order of `nlp-underspec --help`: the data flow, left to right. A name is the module under commands/
# (eval_results registers the command eval-results).
COMMANDS = (
    "pretrain",
    "finetune",
    "evaluate",
    "score",
    "run",
    "status",
    "analyze",
    "compare",
    "multibootstrap",
    "select",
    "compress",
    "report",
    "card",
    "eval_results",
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


class _StdoutFailure(Exception):
    """A write to standard output failed (kept apart from OSErrors of the files a command reads and writes)."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class _GuardedStdout:
    """sys.stdout, with a failed write or flush raised as :class:`_StdoutFailure`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as err:
            raise _StdoutFailure(err) from err

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as err:
            raise _StdoutFailure(err) from err

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _silence(stream) -> None:
    """Point the failed stdout at /dev/null, so the interpreter's flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing is flushed at exit
        pass


def _cwd_gone() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _dispatch(args: argparse.Namespace) -> int:
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a table still buffered must fail here, inside the guard, not at exit
        return code
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except FileNotFoundError:
        if not _cwd_gone():
            raise
        print(f"error: {CWD_GONE}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    if sys.stdout is None:  # Python's stdout when file descriptor 1 was closed: every print would vanish
        print(f"error: {STDOUT_CLOSED}", file=sys.stderr)
        return EXIT_USAGE
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    try:
        return _dispatch(args)
    except _StdoutFailure as failure:
        _silence(stdout)
        if isinstance(failure.error, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        print(f"error: {STDOUT_FAILED.format(reason=failure.error.strerror or failure.error)}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    raise SystemExit(main())
