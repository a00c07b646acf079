"""The shape of ``analysis.json`` as this toolkit writes it, checked where the report and the cards read it.

The readers format numbers into sentences and drop a sentence whose numbers are missing (a statement not computed);
a file edited or written by another version could otherwise make sentences vanish without a word, or crash a reader
that expects a mapping. So the one reader checks, before anything is formatted: the ``version`` is not newer than this
toolkit writes, ``metrics`` maps each metric key to a mapping, every number field is a number (or null), and every
interval (a key ending in ``ci95``) is two numbers (or null). Unknown keys are left alone: newer minor additions and
hand-written notes do not stop a report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nlp_underspec.errors import UsageError
from nlp_underspec.formatting import field_path, shown_value

SCHEMA_VERSION = 1  # the analysis.json version this toolkit writes (analysis.statements) and reads up to
INTERVAL_SUFFIX = "ci95"
# The fields this version writes as a number (or null), wherever they appear; plus every ``n_<count>`` field.
NUMBER_FIELDS = frozenset({
    "mean", "std", "min", "max", "n", "icc", "between_var", "within_var", "f", "p_value", "p_two_sided", "ratio", "r",
    "pearson", "spearman", "slope", "intercept", "range", "margin", "ari", "null_mean", "observed_std", "loading",
    "children_mean", "min_p", "level", "nboot", "seed", "nperm", "distinct_resamples", "component", "variance",
    "share_between", "unstable_top"})
# Mappings keyed by model name, not by field: a model may be called "mean" or "n_gram" without being a number.
MODEL_KEYED = frozenset({"checkpoints", "labels", "model_coords"})
COUNT_FIELD = re.compile(r"^n_[a-z_]+$")
FIX = "Re-run `nlp-underspec analyze` to rewrite it, or delete the file."

NEWER_VERSION = ("{path} has version {version}, newer than this nlp_underspec reads (up to {supported}). Upgrade "
                 "nlp_underspec (pip install -U nlp_underspec), or re-run `nlp-underspec analyze` with this one.")
BAD_VERSION = "{path}: version must be a whole number, got {got}. " + FIX
NOT_A_MAPPING = "{path}: {key} must be a mapping (JSON object), got {got}. " + FIX
NOT_A_NUMBER = "{path}: {key} must be a number or null, got {got}. " + FIX
NOT_AN_INTERVAL = "{path}: {key} must be two numbers (an interval) or null, got {got}. " + FIX


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_field(path: str, key_path: str, key: str, value: Any) -> None:
    if key.endswith(INTERVAL_SUFFIX):
        if value is not None and not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
            raise UsageError(NOT_AN_INTERVAL.format(path=path, key=key_path, got=shown_value(value)))
    elif key in NUMBER_FIELDS or COUNT_FIELD.match(key):
        if value is not None and not _is_number(value):
            raise UsageError(NOT_A_NUMBER.format(path=path, key=key_path, got=shown_value(value)))


def _walk(path: str, key_path: str, value: Any, *, by_model: bool = False) -> None:
    """Every field of ``value`` (a parsed JSON document or part of one), checked by its key's name (the keys of a
    mapping ``by_model`` are model names: what is under them is checked, the names are not read as fields)."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = field_path(key_path, key)
            if not by_model:
                _check_field(path, child_path, str(key), child)
            _walk(path, child_path, child, by_model=not by_model and key in MODEL_KEYED)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _walk(path, field_path(key_path, index), child)


def _check_version(path: str, analysis: Mapping[str, Any]) -> None:
    version = analysis.get("version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise UsageError(BAD_VERSION.format(path=path, got=shown_value(version)))
    if version > SCHEMA_VERSION:
        raise UsageError(NEWER_VERSION.format(path=path, version=version, supported=SCHEMA_VERSION))


def _check_metrics(path: str, analysis: Mapping[str, Any]) -> None:
    metrics = analysis.get("metrics", {})
    if not isinstance(metrics, Mapping):
        raise UsageError(NOT_A_MAPPING.format(path=path, key="metrics", got=shown_value(metrics)))
    for key, entry in metrics.items():
        if not isinstance(entry, Mapping):
            raise UsageError(NOT_A_MAPPING.format(path=path, key=field_path("metrics", key), got=shown_value(entry)))


def check_analysis(analysis: Mapping[str, Any], path: Any) -> Mapping[str, Any]:
    """``analysis`` (a parsed analysis.json read from ``path``) unchanged, or a UsageError naming the first bad key."""
    path = str(path)
    _check_version(path, analysis)
    _check_metrics(path, analysis)
    _walk(path, "", analysis)
    return analysis
