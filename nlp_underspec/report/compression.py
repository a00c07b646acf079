"""The report's "Compression stress" section, from the ``compression.json`` of ``nlp-underspec compress``.

Hooker et al. (2020) asked whether compression hurts the long tail more than the mean. Here the mean is a fine-tuned
copy's iid (dev) metric and the tail its stress metrics, so each level's table sets the two shifts (compressed minus
original, the family's paired Multi-Bootstrap interval) side by side, and its verdict is read from the intervals alone:
a shift whose interval includes 0 says "cannot tell", never "no effect". The items whose prediction moves most (the
compression-identified exemplars) follow.

Where the file comes from (:func:`locate`): ``report DIR`` on the folder ``compress --out DIR`` wrote reports the
original family it names with this section (into ``DIR/report``, so the family is not written); ``report LEVEL`` on
one of its level folders finds ``../compression.json``; ``report FAMILY --compression FILE`` adds it to any family.
The file is checked before anything is formatted: a wrong field is refused naming the file and the field, since a
missing number would otherwise just make a row vanish.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nlp_underspec.analysis.registered import headline_metrics
from nlp_underspec.artifacts import COMPRESSION, SUMMARY
from nlp_underspec.errors import UsageError
from nlp_underspec.formatting import DASH, field_path, fmt_cell, fmt_ci_cell, number, shown_value
from nlp_underspec.io import read_json, read_json_object
from nlp_underspec.report.family import iid_candidates

log = logging.getLogger(__name__)

SUPPORTED_VERSION = 1  # the compression.json layout compression.compress_family writes
FIX = "Re-run `nlp-underspec compress` to write it again."
BAD_FIELD = "{path}: {key} must be {what}, got {got}. " + FIX
NO_FIELD = "{path}: {key} is missing ({what}). " + FIX
NEWER = ("{path} has version {version}, newer than this nlp_underspec reads (up to {supported}). Upgrade "
         "nlp_underspec (pip install -U nlp_underspec), or re-run `nlp-underspec compress` with this one.")
NO_FILE = ("{path} is not a compression.json: no such file. Give the file (or the folder) `nlp-underspec compress "
           "--out` wrote.")
NO_FAMILY = ("{path}: family names {family}, which holds no summary.json (looked in {looked}). Report the family "
             "itself with it: nlp-underspec report FAMILY --compression {path}")

EXEMPLARS_SHOWN = 5  # items per level, group and test on the page; compression.json keeps compress's 10
GROUP_NAMES = {"finetuned": "fine-tuned", "pretrained": "pretrained"}
ANALYSIS_SUFFIX = {"pretrained": "@pretrained"}  # how the family's Multi-Bootstrap names a pretrained metric

# The verdict on Hooker et al.'s question for one stress metric, from its interval and its network's iid interval.
TAIL_MORE = "yes: the stress shift excludes 0, the iid shift ({iid}) does not"
BOTH_MOVED = "both moved: the iid shift ({iid}) excludes 0 too, so not a tail-only effect"
CANNOT_TELL = "cannot tell: the stress shift's interval includes 0"
NO_INTERVAL = "cannot tell: no family interval (compression.json has no Multi-Bootstrap of this metric)"
NO_IID = "moved; no iid metric to set it against ({why})"
PRETRAINED_NO_IID = "pretrained checkpoints have no dev set"
IID_UNKNOWN = "no recomputed dev metric with an interval"
EXEMPLAR_SENTENCE = ("{level}, {group} {test}: the most-moved item ({item}) changes by {moved} on average over the "
                     "members and by up to {largest} for one, where the family's {metric} moves by {shift}.")
LEVEL_SENTENCE = ("{level}: of {n} stress metric(s), {tail} moved while their network's iid metric did not (the tail "
                  "hurt more than the mean), {both} moved with it, {alone} moved with no iid metric to set against, "
                  "and for {unclear} the interval includes 0 (cannot tell).")


# ------------------------------------------------------------------------------------------------------- finding it
def _file(path: Path) -> Path:
    path = path / COMPRESSION if path.is_dir() else path
    if not path.is_file():
        raise UsageError(NO_FILE.format(path=path))
    return path


def _family_of(path: Path, document: Mapping[str, Any]) -> Path:
    """The family a compression was made from: as recorded, else a sibling folder of that name (the tree moved)."""
    recorded = document.get("family")
    if not isinstance(recorded, str) or not recorded:
        raise UsageError(BAD_FIELD.format(path=path, key="family", what="the family folder's path",
                                          got=shown_value(recorded)))
    candidates = list(dict.fromkeys([Path(recorded), path.parent.parent / Path(recorded).name]))
    for candidate in candidates:
        if (candidate / SUMMARY).is_file():
            if candidate != Path(recorded):  # said, since a folder of the same name need not be the same family
                log.warning("%s names %s, which is gone; reporting %s beside it instead", path, recorded, candidate)
            return candidate
    raise UsageError(NO_FAMILY.format(path=path, family=recorded,
                                      looked=", ".join(str(c) for c in candidates)))


def _compressed_from(rundir: Path) -> bool:
    """True for a level folder of a compression (its summary.json says what it was compressed from)."""
    try:
        return isinstance(read_json(rundir / SUMMARY).get("compressed_from"), str)
    except (UsageError, OSError, ValueError, AttributeError):  # load_family says what is wrong with a bad summary
        return False


def locate(rundir: str | os.PathLike,
           given: str | os.PathLike | None = None) -> tuple[Path, dict[str, Any] | None, Path | None, Path]:
    """``(family folder, checked compression.json or None, its path, folder the report goes in by default)`` for
    ``report RUNDIR [--compression FILE]``."""
    rundir = Path(rundir)
    if given is not None:
        path = _file(Path(given))
        return rundir, read_compression(path), path, rundir
    if (rundir / COMPRESSION).is_file() and not (rundir / SUMMARY).exists():  # the folder `compress --out` wrote
        path = rundir / COMPRESSION
        document = read_compression(path)
        return _family_of(path, document), document, path, rundir
    if (rundir.parent / COMPRESSION).is_file() and _compressed_from(rundir):
        return rundir, read_compression(rundir.parent / COMPRESSION), rundir.parent / COMPRESSION, rundir
    return rundir, None, None, rundir


# -------------------------------------------------------------------------------------------------------- checking it
def _need(path: Path, parent: Mapping[str, Any], key_path: str, key: str, kind: type, what: str,
          *, optional: bool = False) -> Any:
    """``parent[key]`` when it is a ``kind``; a UsageError naming the field when it is missing or of another kind."""
    field = field_path(key_path, key)
    if key not in parent:
        if optional:
            return None
        raise UsageError(NO_FIELD.format(path=path, key=field, what=what))
    value = parent[key]
    ok = number(value) is not None if kind is float else isinstance(value, kind)
    if not ok and not (optional and value is None):
        raise UsageError(BAD_FIELD.format(path=path, key=field, what=what, got=shown_value(value)))
    return value


def _check_shift(path: Path, key_path: str, shift: Any) -> None:
    if not isinstance(shift, Mapping):
        raise UsageError(BAD_FIELD.format(path=path, key=key_path, what="a mapping (JSON object)", got=shown_value(shift)))
    _need(path, shift, key_path, "shift", float, "a number or null (compressed minus original)", optional=True)
    ci = shift.get("ci95")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(number(v) is not None for v in ci)):
        raise UsageError(BAD_FIELD.format(path=path, key=field_path(key_path, "ci95"), what="two numbers (an interval)",
                                          got=shown_value(ci)))


def _check_group(path: Path, key_path: str, group: Mapping[str, Any]) -> None:
    members = _need(path, group, key_path, "members", list, "a list of the members' shifts")
    for index, member in enumerate(members):
        where = field_path(field_path(key_path, "members"), index)
        if not isinstance(member, Mapping):
            raise UsageError(BAD_FIELD.format(path=path, key=where, what="a mapping (JSON object)",
                                              got=shown_value(member)))
        _need(path, member, where, "model", str, "the member's name")
        for block in ("stress_shift", "iid_shift"):
            shifts = _need(path, member, where, block, Mapping, "a mapping of metric to shift",
                           optional=block == "iid_shift") or {}
            for metric, shift in shifts.items():
                _check_shift(path, field_path(field_path(where, block), metric), shift)
    exemplars = _need(path, group, key_path, "exemplars", Mapping, "a mapping of test to its most-moved items")
    for test, items in exemplars.items():
        where = field_path(field_path(key_path, "exemplars"), test)
        if not isinstance(items, list) or not all(isinstance(i, Mapping) and number(i.get("mean_abs_delta")) is not None
                                                  for i in items):
            raise UsageError(BAD_FIELD.format(path=path, key=where, what="a list of items with a number "
                                              "mean_abs_delta", got=shown_value(items)))


def _check_family_shift(path: Path, key_path: str, level: Mapping[str, Any]) -> None:
    family = _need(path, level, key_path, "family_shift", Mapping, "the family's Multi-Bootstrap", optional=True)
    metrics = (family or {}).get("metrics", {})
    if not isinstance(metrics, Mapping):
        raise UsageError(BAD_FIELD.format(path=path, key=field_path(field_path(key_path, "family_shift"), "metrics"),
                                          what="a mapping (JSON object)", got=shown_value(metrics)))
    for key, entry in metrics.items():
        where = field_path(field_path(field_path(key_path, "family_shift"), "metrics"), key)
        delta = entry.get("delta") if isinstance(entry, Mapping) else None
        if not isinstance(delta, Mapping) or any(number(delta.get(k)) is None for k in ("mean", "low", "high")):
            raise UsageError(BAD_FIELD.format(path=path, key=field_path(where, "delta"), what="a mapping with numbers "
                                              "mean, low and high", got=shown_value(delta)))


def read_compression(path: str | os.PathLike) -> dict[str, Any]:
    """compression.json, checked: a UsageError naming the file and the first field that is not as compress writes."""
    path = Path(path)
    document = read_json_object(path, hint=FIX)
    version = document.get("version", SUPPORTED_VERSION)
    if number(version) is None or int(version) != version:
        raise UsageError(BAD_FIELD.format(path=path, key="version", what="a whole number", got=shown_value(version)))
    if version > SUPPORTED_VERSION:
        raise UsageError(NEWER.format(path=path, version=version, supported=SUPPORTED_VERSION))
    levels = _need(path, document, "", "levels", Mapping, "a mapping of method level to its results")
    if not levels:
        raise UsageError(BAD_FIELD.format(path=path, key="levels", what="at least one method level", got="{}"))
    for name, level in levels.items():
        where = field_path("levels", name)
        if not isinstance(level, Mapping):
            raise UsageError(BAD_FIELD.format(path=path, key=where, what="a mapping (JSON object)", got=shown_value(level)))
        _need(path, level, where, "method", Mapping, "what was done")
        _need(path, level, where, "wall_seconds", float, "a number", optional=True)
        groups = _need(path, level, where, "groups", Mapping, "the fine-tuned and pretrained members")
        for group, block in groups.items():
            if not isinstance(block, Mapping):
                raise UsageError(BAD_FIELD.format(path=path, key=field_path(field_path(where, "groups"), group),
                                                  what="a mapping (JSON object)", got=shown_value(block)))
            _check_group(path, field_path(field_path(where, "groups"), group), block)
        _check_family_shift(path, where, level)
    return document


# ------------------------------------------------------------------------------------------------------ the section
def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _contains_zero(delta: Mapping[str, Any]) -> bool:
    return delta["low"] <= 0 <= delta["high"]


def _interval_cell(entry: Mapping[str, Any] | None) -> str:
    """``+0.0123 [low, high]`` of the family's shift, with the few-seeds warning when its seeds were too few."""
    if entry is None:
        return DASH
    delta = entry["delta"]
    return f"{fmt_cell(delta['mean'])} {fmt_ci_cell([delta['low'], delta['high']], dict(entry))}"


def _verdict(entry: Mapping[str, Any] | None, iid: tuple[str, Mapping[str, Any]] | None,
             group: str) -> tuple[str, str]:
    """``(category, words)`` of one stress metric's answer to "does compression hurt the tail more than the mean"."""
    if entry is None:
        return "unclear", NO_INTERVAL
    if _contains_zero(entry["delta"]):
        return "unclear", CANNOT_TELL
    if group == "pretrained":
        return "alone", NO_IID.format(why=PRETRAINED_NO_IID)
    if iid is None:
        return "alone", NO_IID.format(why=IID_UNKNOWN)
    shown = f"{iid[0]} {_interval_cell(iid[1])}"
    return ("both", BOTH_MOVED.format(iid=shown)) if not _contains_zero(iid[1]["delta"]) else \
        ("tail", TAIL_MORE.format(iid=shown))


def _row(level: str, group: str, kind: str, key: str, shifts: list[Mapping[str, Any]],
         entry: Mapping[str, Any] | None, verdict: str) -> dict[str, Any]:
    values = [float(s["shift"]) for s in shifts if number(s.get("shift")) is not None]
    originals = [float(s["original"]) for s in shifts if number(s.get("original")) is not None]
    intervals = [s["ci95"] for s in shifts if isinstance(s.get("ci95"), list)]
    moved = sum(1 for low, high in intervals if not low <= 0 <= high)
    return {"level": level, "group": GROUP_NAMES.get(group, group), "kind": kind, "metric": key,
            "original": fmt_cell(_mean(originals)), "mean_shift": fmt_cell(_mean(values)),
            "family": _interval_cell(entry), "members_moved": f"{moved} of {len(intervals)}" if intervals else DASH,
            "verdict": verdict}


def _group_rows(level: str, group: str, block: Mapping[str, Any],
                family: Mapping[str, Any]) -> tuple[list[dict], list[str]]:
    """The iid rows, then the stress rows with their verdicts, of one group of a level; and each verdict's category."""
    members = block["members"]
    suffix = ANALYSIS_SUFFIX.get(group, "")
    iid_keys = list(dict.fromkeys(k for m in members for k in (m.get("iid_shift") or {})))
    rows = [_row(level, group, "iid", key, [m["iid_shift"][key] for m in members if key in (m.get("iid_shift") or {})],
                 family.get(key), "") for key in iid_keys]
    categories = []
    for key in dict.fromkeys(k for m in members for k in m["stress_shift"]):
        if all(number(m["stress_shift"].get(key, {}).get("shift")) is None for m in members):
            continue  # a flag (calibration/learned), not a number that can shift
        test = key.split("/")[0]
        pair = next(((c, family[c]) for c in iid_candidates(test, iid_keys) if c in iid_keys and c in family), None)
        category, words = _verdict(family.get(f"{key}{suffix}"), pair, group)
        categories.append(category)
        rows.append(_row(level, group, "stress", f"{key}{suffix}",
                         [m["stress_shift"][key] for m in members if key in m["stress_shift"]],
                         family.get(f"{key}{suffix}"), words))
    return rows, categories


def _exemplar_rows(level: str, group: str, block: Mapping[str, Any]) -> list[dict]:
    rows = []
    for test, items in block["exemplars"].items():
        for rank, item in enumerate(items[:EXEMPLARS_SHOWN], start=1):
            rows.append({"level": level, "group": GROUP_NAMES.get(group, group), "test": test, "rank": rank,
                         "item": str(item.get("item_id", DASH)), "occupation": str(item.get("occupation") or DASH),
                         "mean_abs": fmt_cell(item["mean_abs_delta"]), "mean": fmt_cell(item.get("mean_delta")),
                         "max_abs": fmt_cell(item.get("max_abs_delta"))})
    return rows


def _exemplar_sentences(level: str, group: str, block: Mapping[str, Any], family: Mapping[str, Any]) -> list[str]:
    """The tail in one line per test: its most-moved item beside the family's shift of the test's headline metric."""
    lines = []
    for test, items in block["exemplars"].items():
        metric = next(iter(headline_metrics(test)), None)
        key = f"{test}/{metric}{ANALYSIS_SUFFIX.get(group, '')}"
        if not items or metric is None or key not in family:
            continue
        lines.append(EXEMPLAR_SENTENCE.format(
            level=level, group=GROUP_NAMES.get(group, group), test=test, item=items[0].get("item_id", DASH),
            moved=fmt_cell(items[0]["mean_abs_delta"]), largest=fmt_cell(items[0].get("max_abs_delta")),
            metric=key, shift=_interval_cell(family[key])))
    return lines


def _method_row(level: str, part: Mapping[str, Any]) -> dict[str, Any]:
    checkpoints = [c for c in (part.get("checkpoints") or {}).values() if isinstance(c, Mapping)]
    zero = [float(c["zero_share"]) for c in checkpoints if number(c.get("zero_share")) is not None]
    scale = [float(c["max_scale"]) for c in checkpoints if number(c.get("max_scale")) is not None]
    done = (f"zero share {fmt_cell(min(zero))}–{fmt_cell(max(zero))}" if zero else
            f"largest quantization step {fmt_cell(max(scale), 4)}" if scale else DASH)
    return {"level": level, "description": str(part["method"].get("description") or part["method"].get("name", level)),
            "checkpoints": len(checkpoints) or DASH, "done": done,
            "wall": DASH if number(part.get("wall_seconds")) is None else f"{float(part['wall_seconds']):.0f} s"}


def section(document: Mapping[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """What the template's "Compression stress" section shows of a checked compression.json."""
    rows, exemplar_rows, sentences, notes, tail_lines = [], [], [], [], []
    for level, part in document["levels"].items():
        family_shift = part.get("family_shift") or {}
        if isinstance(family_shift.get("error"), str):
            notes.append(f"{level}: no family Multi-Bootstrap of the shifts: {family_shift['error']}")
        categories = []
        for group, block in part["groups"].items():
            group_rows, found = _group_rows(level, group, block, family_shift.get("metrics") or {})
            rows += group_rows
            categories += found
            exemplar_rows += _exemplar_rows(level, group, block)
            tail_lines += _exemplar_sentences(level, group, block, family_shift.get("metrics") or {})
        sentences.append(LEVEL_SENTENCE.format(level=level, n=len(categories), tail=categories.count("tail"),
                                               both=categories.count("both"), alone=categories.count("alone"),
                                               unclear=categories.count("unclear")))
    iid_note = document.get("iid")
    return {"source": str(path), "family": str(document.get("family", DASH)), "n_boot": document.get("n_boot", DASH),
            "iid_note": iid_note if isinstance(iid_note, str) else None, "rows": rows, "exemplars": exemplar_rows,
            "methods": [_method_row(level, part) for level, part in document["levels"].items()],
            "sentences": sentences, "tail_lines": tail_lines, "notes": notes, "exemplars_shown": EXEMPLARS_SHOWN}
