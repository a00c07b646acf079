"""How numbers, intervals and their caveats are written wherever a person reads them: the model cards, the report
page, its figures' labels and captions, and (through :func:`significant`) the terminal tables.

One home, so that a card and the report print the same value of ``summary.json`` or ``analysis.json`` the same way.
Everything here is a pure function of its arguments: no file is read and no test is named.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

DASH = "—"  # a table cell with no number (a skipped statement, a model without the value)
BELOW_FLOOR_CELL = "(below noise floor)"  # after a correlation that is float leftovers, not a finding
UNRELIABLE = "unreliable: only {distinct} distinct resamples of {k} {units} exist"
RESAMPLED_NAMES = {"pretrain_seed": "pretraining seeds", "finetune_seed": "fine-tuning seeds", "seed": "seeds",
                   "item": "test items", "example": "test items", "occupation": "occupations"}
REFERENCE_LABELS = {"planted": "planted", "bls": "BLS"}  # what a calibration slope was measured against


def number(value: Any) -> float | None:
    """``value`` as a float when it is a number (a bool is not), else None.

    >>> number(3), number(True), number("0.5"), number(None)
    (3.0, None, None, None)
    """
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def fmt(value: float | None, digits: int = 3) -> str:
    """A number as cards print it: ``digits`` decimals, or significant digits for tiny gaps (similarity deltas).

    >>> fmt(0.41234), fmt(-0.00041234), fmt(0), fmt(None)
    ('0.412', '-0.000412', '0.000', 'n/a')
    """
    if value is None:
        return "n/a"
    if value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def fmt_cell(value: Any, digits: int = 3) -> str:
    """:func:`fmt` of a number; "—" for anything that is not one (a skipped statement).

    >>> fmt_cell(0.5), fmt_cell(None), fmt_cell(False)
    ('0.500', '—', '—')
    """
    return fmt(float(value), digits) if isinstance(value, (int, float)) and not isinstance(value, bool) else DASH


def fmt_ci(ci: Any) -> str | None:
    """``[0.200, 0.600]`` from a pair, or None when there is no usable interval.

    >>> fmt_ci([0.2, 0.6]), fmt_ci(None), fmt_ci([0.2, "x"])
    ('[0.200, 0.600]', None, None)
    """
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or any(not isinstance(v, (int, float)) for v in ci):
        return None
    return f"[{fmt(float(ci[0]))}, {fmt(float(ci[1]))}]"


def fmt_ci_cell(ci: Any, entry: dict | None = None) -> str:
    """An interval, with the warning of :func:`unreliable_text` when ``entry`` says it was drawn from too few distinct
    resamples of the seeds; "—" without one.

    >>> fmt_ci_cell([0.2, 0.6]), fmt_ci_cell(None)
    ('[0.200, 0.600]', '—')
    """
    text = fmt_ci(ci) or DASH
    warning = unreliable_text(entry) if entry is not None and fmt_ci(ci) else None
    return f"{text} ({warning})" if warning else text


def fmt_range(values: list[float]) -> str:
    """``[low, high]`` of some values, as cards print a family's range.

    >>> fmt_range([0.3, -0.1, 0.2])
    '[-0.100, 0.300]'
    """
    return f"[{fmt(min(values))}, {fmt(max(values))}]"


def fmt_floor(floor: Any) -> str:
    """A noise floor (one number, or one per model when they differ) in its shortest form.

    >>> fmt_floor(0.0001), fmt_floor([0.0001, 0.002]), fmt_floor(None)
    ('0.0001', '0.0001-0.002', '')
    """
    return f"{floor:g}" if isinstance(floor, (int, float)) else "-".join(f"{f:g}" for f in floor or [])


def fmt_decimals(value: float, digits: int) -> str:
    """Exactly ``digits`` decimals, however small the value (a figure title's slope).

    >>> fmt_decimals(0.00041234, 3)
    '0.000'
    """
    return f"{value:.{digits}f}"


def fmt_short(value: float) -> str:
    """Two decimals, for figure titles (``r = 0.41``) where space is short.

    >>> fmt_short(0.41234)
    '0.41'
    """
    return fmt_decimals(value, 2)


def fmt_short_ci(ci: Any) -> str:
    """`` [0.20, 0.60]`` after a figure title's value, or nothing without an interval.

    >>> fmt_short_ci([0.2, 0.6]), fmt_short_ci(None)
    (' [0.20, 0.60]', '')
    """
    return f" [{fmt_short(ci[0])}, {fmt_short(ci[1])}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""


def fmt_percent(share: float) -> str:
    """A share as a whole percentage.

    >>> fmt_percent(0.5234)
    '52%'
    """
    return f"{share:.0%}"


def significant(value: Any, digits: int = 3) -> str:
    """A number in ``digits`` significant digits, "-" for none or a non-finite one (the terminal tables' style).

    >>> significant(0.41234), significant(0.00004), significant(None), significant(float("nan"))
    ('0.412', '4.0e-05', '-', '-')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell (a bare '|' would start a new column).

    >>> markdown_cell("a|b")
    'a\\\\|b'
    """
    return text.replace("|", "\\|")


def unreliable_text(entry: Any) -> str | None:
    """Why an analysis.json interval is not to be trusted (``reliable`` false: too few distinct resamples), or None."""
    if not isinstance(entry, dict) or entry.get("reliable") is not False:
        return None
    resampled = entry.get("resampled")
    unit = resampled[0] if isinstance(resampled, list) and resampled else resampled
    return UNRELIABLE.format(distinct=entry.get("distinct_resamples"), k=entry.get("n_units"),
                             units=RESAMPLED_NAMES.get(str(unit), "seeds") if unit != "model" else "models")


def resampled_words(value: Any) -> str:
    """What the Multi-Bootstrap resampled (analysis.json ``resampled``), in words.

    >>> resampled_words(["pretrain_seed", "item"]), resampled_words(None)
    ('pretraining seeds and test items', 'seeds and test items')
    """
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    words = [RESAMPLED_NAMES.get(str(n), str(n).replace("_", " ")) for n in names]
    return " and ".join(dict.fromkeys(words)) or "seeds and test items"


# ------------------------------------------------------------------------------------------------ JSON fields in errors
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def shown_value(value: Any) -> str:
    """A JSON value as an error message quotes it: its JSON text, cut to 60 characters.

    >>> shown_value({"a": [1, 2]}), shown_value("x" * 70)[-5:]
    ('{"a": [1, 2]}', 'xx...')
    """
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def field_path(key_path: str, key: Any) -> str:
    """The path of ``key`` below ``key_path`` as an error message names a field: ``a.b``, ``a[0]``, ``a['odd key']``.

    >>> field_path("", "metrics"), field_path("metrics", "test/metric"), field_path("levels", 0)
    ('metrics', "metrics['test/metric']", 'levels[0]')
    """
    if isinstance(key, int):
        return f"{key_path}[{key}]"
    if _IDENTIFIER.match(str(key)):
        return f"{key_path}.{key}" if key_path else str(key)
    return f"{key_path}[{str(key)!r}]"
