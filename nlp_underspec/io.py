"""Writing files so that a crash never leaves half of one behind, and reading back the JSON files it wrote.

Two tools: atomic single-file writes (temp file in the same folder, fsync, ``os.replace``), and
:func:`staged_output`, which builds a whole output folder beside its destination and moves the finished files in at the
end. Every writer in the package goes through here. ``mkstemp``/``mkdtemp`` create private files (0600) and folders
(0700) whatever the umask; the results are meant to be shared like any file the user makes, so each gets the mode the
user's umask gives a new file (0644 / 0755 under the usual 022). :func:`check_output_path` says up front whether an
output path can be written at all (before hours of inference that would then fail).
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
OUT_IS_FOLDER = "Output path {path} is a folder, not a file. {fix}"
OUT_UNDER_FILE = "Output path {path} cannot be created: {parent} is a file, not a folder. {fix}"
OUT_NOT_WRITABLE = "Output path {path} cannot be written: {folder} is not writable by you. {fix}"
OUT_FIX = "Choose another {flag}."
JSON_UNREADABLE = "{path} is not valid JSON ({error} at line {line}, column {column}). {hint}"
JSON_NOT_OBJECT = "{path} holds a JSON {kind}, not an object. {hint}"
JSON_HINT = "Restore it, or delete it and re-run the command that wrote it."


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` can only set it, and setting it,
    even for an instant, would race with other threads creating files)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_new_file(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # a filesystem (or OS) without Unix modes keeps its own
        os.fchmod(fd, 0o666 & ~_umask())


def _as_new_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o777 & ~_umask())


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
        _as_new_file(fd)
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


def check_output_path(path: str | os.PathLike, *, flag: str = "--out", folder: bool = True,
                      fix: str | None = None) -> None:
    """Whether ``path`` (a folder, or a file with ``folder=False``) can be written: it is of that kind if it exists, no
    parent is a file, and the folders it is written through are writable. Callers run it before any long work;
    ``fix`` is what the message tells the user to do (default: choose another ``flag``)."""
    path = Path(path)
    fix = fix or OUT_FIX.format(flag=flag)
    if path.exists():
        if folder and not path.is_dir():
            raise UsageError(OUT_IS_FILE.format(path=path))
        if not folder and path.is_dir():
            raise UsageError(OUT_IS_FOLDER.format(path=path, fix=fix))
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:  # the folders still to be made: the nearest one there is
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(OUT_UNDER_FILE.format(path=path, parent=parent, fix=fix))
    # Temp files and staging folders are made beside the output, and a sweep writes inside its folder: both need write
    # access. os.access answers for the real user; a read-only mount shows here as well.
    for where in (parent, path) if folder and path.is_dir() else (parent,):
        if not os.access(where, os.W_OK | os.X_OK):
            raise UsageError(OUT_NOT_WRITABLE.format(path=path, folder=where, fix=fix))


def check_output_folder(out: str | os.PathLike, *, overwrite: bool = False, accept_existing=None) -> None:
    """The refusal :func:`staged_output` makes, callable up front (before hours of work that would then be refused)."""
    out = Path(out)
    check_output_path(out)
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
        _as_new_folder(stage)
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
