"""The one exception type for bad user input.

Anything the user can fix (a path, a recipe key, a malformed row) raises :class:`UsageError` with one message that names
the file, line or field and says what to do. The CLI prints it without a traceback and exits with code 2; library
callers catch it like any other exception. Message texts live as constants in the module that checks them, so tests can
assert them exactly.
"""

from __future__ import annotations

import difflib
import importlib
from functools import lru_cache
from typing import Iterable

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input the user can fix. ``str(err)`` is the whole message."""

    exit_code = EXIT_USAGE


UNKNOWN_NAME = "Unknown {kind} '{name}'.{hint} Available: {available}."


DID_YOU_MEAN = " Did you mean '{prefix}{close}'?"


def did_you_mean(name: str, choices: Iterable[str], *, cutoff: float = 0.6, prefix: str = "") -> str:
    """The hint of every lookup error: `` Did you mean 'pretrain'?`` (with a leading space), or "" when no choice is
    close enough. ``prefix`` goes before the suggestion (a dotted recipe key's section: ``evaluate.``).

    >>> did_you_mean("pretrian", ["finetune", "pretrain"])
    " Did you mean 'pretrain'?"
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=cutoff)
    return DID_YOU_MEAN.format(prefix=prefix, close=close[0]) if close else ""


def unknown_name_message(kind: str, name: str, available: Iterable[str]) -> str:
    """lm-eval style lookup error: ``Unknown stress test 'bais'. Did you mean 'bias'? Available: bias, skill.``"""
    choices = sorted(available)
    return UNKNOWN_NAME.format(kind=kind, name=name, hint=did_you_mean(name, choices),
                               available=", ".join(choices) or "(none)")


@lru_cache(maxsize=1)
def connection_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failed connection to the Hub can surface as: OSError, and the HTTP client's own transport
    errors, which are not OSErrors (huggingface_hub's client has been requests, httpx and httpx2 across versions)."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)
