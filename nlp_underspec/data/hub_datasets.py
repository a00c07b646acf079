"""Loading a dataset from the Hugging Face Hub by id, with one clear message when offline.

(All *writes* to the Hub live in the :mod:`nlp_underspec.hub` package; this is only the ``datasets`` read path.)
"""

from __future__ import annotations

from nlp_underspec.errors import UsageError, connection_errors

HUB_UNAVAILABLE = ("Could not load '{dataset}' from the Hugging Face Hub ({reason}). You appear to be offline and it is "
                   "not cached: pass a local copy instead ({layouts}).")
HUB_NOT_FOUND = "'{dataset}' is neither a local path nor a dataset on the Hugging Face Hub ({reason}). Pass {layouts}."


def looks_like_hub_id(text: str) -> bool:
    """``org/name`` or ``name``, not an existing-looking path (no leading ./, /, ~ and no file suffix)."""
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", text)) and not text.endswith((".csv", ".tsv", ".json", ".jsonl", ".txt"))


def load_hub_dataset(dataset: str, config: str | None, split: str, *, layouts: str):
    """``datasets.load_dataset(dataset, config, split=split)``, turning connection failures into a UsageError."""
    import datasets

    try:
        return datasets.load_dataset(dataset, config, split=split)
    except connection_errors() as err:  # OSError (offline mode too) and the HTTP client's own transport errors
        reason = type(err).__name__
        if "offline" in str(err).lower() or "connect" in str(err).lower() or "resolve" in str(err).lower():
            raise UsageError(HUB_UNAVAILABLE.format(dataset=dataset, reason=reason, layouts=layouts)) from None
        raise UsageError(HUB_NOT_FOUND.format(dataset=dataset, reason=str(err).splitlines()[0][:200], layouts=layouts)) from None
    except Exception as err:  # datasets raises its own DatasetNotFoundError, ValueError for bad configs/splits
        raise UsageError(HUB_NOT_FOUND.format(dataset=dataset, reason=str(err).splitlines()[0][:200], layouts=layouts)) from None
