"""How the bad-input tests run the CLI: exit 2, one line on stderr, no traceback; they assert the message it returns."""

from __future__ import annotations

from nlp_underspec import cli


def cli_fails(argv, capsys) -> str:
    """The CLI exits 2 with one line on stderr, no traceback; returns the message."""
    capsys.readouterr()
    assert cli.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err[len("error: "):-1]
