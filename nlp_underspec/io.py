"""Writing files so that a crash never leaves half of one behind, and reading back the JSON files it wrote.

Two tools: atomic single-file writes (temp file in the same folder, fsync, ``os.replace``), and
:func:`staged_output`, which builds a whole output folder beside its destination and moves the finished files in at the
end. Every writer in the package goes through here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from nlp_underspec.errors import UsageError
from nlp_underspec.textio import read_text

OUT_HOLDS_OTHER_RUN = (
    "Output folder {path} already holds a different run ({what}). Choose another --out, or pass --overwrite to replace it."
)
OUT_IS_FILE = "Output path {path} is a file, not a folder. Choose a folder for --out."
JSON_UNREADABLE = "{path} is not valid JSON ({error} at line {line}, column {column}). {hint}"
JSON_NOT_OBJECT = "{path} holds a JSON {kind}, not an object. {hint}"
JSON_HINT = "Restore it, or delete it and re-run the command that wrote it."


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem supports fsync on a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(obj: Any) -> str:
    """Stable, human-readable JSON (sorted keys would scramble the contract's order, so insertion order is kept)."""
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, to_json(obj))


def read_json(path: str | os.PathLike, *, hint: str = JSON_HINT) -> Any:
    """A JSON file's value; a file that is not JSON text is one UsageError naming it, its line and column, and ``hint``
    (what to do about it)."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(JSON_UNREADABLE.format(path=path, error=err.msg, line=err.lineno, column=err.colno,
                                                hint=hint)) from None


def read_json_object(path: str | os.PathLike, *, hint: str = JSON_HINT) -> dict[str, Any]:
    """:func:`read_json` for files whose top level must be an object (every JSON file the package writes)."""
    data = read_json(path, hint=hint)
    if not isinstance(data, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(data), "number")
        raise UsageError(JSON_NOT_OBJECT.format(path=path, kind=kind, hint=hint))
    return data


def check_output_folder(out: str | os.PathLike, *, overwrite: bool = False, accept_existing=None) -> None:
    """The refusal :func:`staged_output` makes, callable up front (before hours of work that would then be refused)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(OUT_IS_FILE.format(path=out))
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        if accept_existing is None or not accept_existing(out):
            what = ", ".join(sorted(p.name for p in out.iterdir())[:4])
            raise UsageError(OUT_HOLDS_OTHER_RUN.format(path=out, what=what))


@contextlib.contextmanager
def staged_output(out: str | os.PathLike, *, overwrite: bool = False, accept_existing=None) -> Iterator[Path]:
    """Yield an empty staging folder; on success its contents replace ``out``, on error nothing in ``out`` changes.

    ``out`` may not exist, be empty, or (with ``accept_existing(out) -> bool`` returning True) hold an earlier result of
    the same run, which is replaced. Anything else is refused unless ``overwrite``.
    """
    out = Path(out)
    check_output_folder(out, overwrite=overwrite, accept_existing=accept_existing)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    # Swap in two renames so a crash between them leaves either the old folder (as .old) or the new one, never a mix.
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(stage, out)
    _fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
