"""Writing files so that a crash never leaves half of one behind, and reading back the JSON files it wrote.

Two tools: atomic single-file writes (temp file in the same folder, fsync, ``os.replace``), and
:func:`staged_output`, which builds a whole output folder beside its destination and moves the finished files in at the
end. Every writer in the package goes through here, and so does the rule for replacing a folder: only our own output
(:class:`OutputKind`), never an input of the command, a folder a running sweep holds, or the current folder.
``mkstemp``/``mkdtemp`` create private files (0600) and folders (0700) whatever the umask; the results are meant to be
shared like any file the user makes, so each gets the mode the user's umask gives a new file (0644 / 0755 under the
usual 022). :func:`check_output_path` says up front whether an output path can be written at all (before hours of
inference that would then fail).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

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
OUT_DANGLING_LINK = "Output path {path} is a symbolic link to {target}, which does not exist. {fix}"
OUT_NAME_TOO_LONG = ("Output path {path} has a name of {length} characters ('{start}...'), more than the {allowed} "
                     "this filesystem allows there{why}. {fix}")
NAME_LIMIT_WHY = " ({limit}, less {room} for the names of the files staged beside it)"
PATH_HAS_LINE_BREAK = ("{what} {path!r} has a newline or tab in it, which the tab-separated tables the toolkit writes "
                       "(run_info.tsv, a sweep's tables) cannot hold. Rename it, or choose another path.")
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
OUT_NOT_OURS = ("Output folder {path} holds {what}, which is not a {kind} written by nlp_underspec. Nothing replaces "
                "such a folder, --overwrite or not: choose another --out, or move those files out of it first.")
OUT_HOLDS_INPUT = ("Output folder {path} {relation} {input}, an input of this command: replacing the folder would "
                   "delete it, --overwrite or not. Choose another --out.")
OUT_LOCKED = ("Output folder {path} is in use by `nlp-underspec run` (pid {pid} on {host}; lock {lock}), so nothing "
              "replaces it, --overwrite or not. Wait for that run to finish or stop it; if no such process exists, "
              "delete {lock}.")
OUT_NOT_EMPTY = "Output folder {path} is not empty ({what}). Choose a new or empty folder."
OUT_HOLDS_CWD = ("Output folder {path} is (or holds) the current folder, which cannot be swapped for the new output. "
                 "Choose another --out (a new folder), or run the command from outside it.")


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


# A staged output's siblings: ".<name>.staging-XXXXXXXX", ".<name>.old-<pid>", ".<name>.XXXXXXXX.tmp".
_STAGING_ROOM = len(".") + len(".staging-") + 8 + 7


def check_schema_version(path: str | os.PathLike, version: Any, *, supported: int, bad: str, newer: str) -> None:
    """A file's layout version is a whole number this toolkit reads (up to ``supported``), else a UsageError from
    ``bad`` ({path}, {got}) or ``newer`` ({path}, {version}, {supported}): a newer writer may have changed what the
    fields mean, so a layout we don't know is refused rather than misread. (A file without one: pass ``supported``.)"""
    if not isinstance(version, int) or isinstance(version, bool):
        shown = json.dumps(version, ensure_ascii=False, default=str)
        raise UsageError(bad.format(path=path, got=shown if len(shown) <= 60 else shown[:57] + "..."))
    if version > supported:
        raise UsageError(newer.format(path=path, version=version, supported=supported))


def check_tsv_safe_path(path: str | os.PathLike, *, what: str) -> None:
    """Refuse a path with a newline or tab: paths end up in tab-separated tables, where such a character breaks the
    row (pandas refuses to write it), after all the work that came before."""
    if any(character in str(path) for character in "\n\r\t"):
        raise UsageError(PATH_HAS_LINE_BREAK.format(what=what, path=str(path)))


def _name_limit(folder: Path) -> int:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    return 255


def check_output_path(path: str | os.PathLike, *, flag: str = "--out", folder: bool = True,
                      fix: str | None = None) -> None:
    """Whether ``path`` (a folder, or a file with ``folder=False``) can be written: it is of that kind if it exists, no
    parent is a file, and the folders it is written through are writable. Callers run it before any long work;
    ``fix`` is what the message tells the user to do (default: choose another ``flag``).

    Also refused: a newline or tab in it (:func:`check_tsv_safe_path`), a name too long for the filesystem once the
    staging names are made from it, and a symbolic link to nothing (writing through it would fail at the very end).
    A link to an existing folder is followed: the folder it points to is what gets written (:func:`staged_output`)."""
    path = Path(path)
    fix = fix or OUT_FIX.format(flag=flag)
    check_tsv_safe_path(path, what=flag)
    _check_name_lengths(path, fix=fix)  # first: pathlib's own checks raise OSError 36 on such a name
    if path.is_symlink() and not path.exists():
        raise UsageError(OUT_DANGLING_LINK.format(path=path, target=os.readlink(path), fix=fix))
    if path.exists():
        if folder and not path.is_dir():
            raise UsageError(OUT_IS_FILE.format(path=path))
        if not folder and path.is_dir():
            raise UsageError(OUT_IS_FOLDER.format(path=path, fix=fix))
    parent = (_real(path) if path.is_symlink() else path.absolute()).parent  # a linked folder is written where it is
    while not parent.exists() and parent != parent.parent:  # the folders still to be made: the nearest one there is
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(OUT_UNDER_FILE.format(path=path, parent=parent, fix=fix))
    # Temp files and staging folders are made beside the output, and a sweep writes inside its folder: both need write
    # access. os.access answers for the real user; a read-only mount shows here as well.
    for where in (parent, path) if folder and path.is_dir() else (parent,):
        if not os.access(where, os.W_OK | os.X_OK):
            raise UsageError(OUT_NOT_WRITABLE.format(path=path, folder=where, fix=fix))


def _check_name_lengths(path: Path, *, fix: str) -> None:
    """Every component still to be created fits the filesystem's name limit; the last one with room for the names of
    its staging siblings (an OSError 36 otherwise, after the work)."""
    parts = Path(os.path.abspath(path)).parts
    for depth, name in enumerate(parts[1:], start=1):
        here = Path(*parts[:depth])
        if depth < len(parts) - 1 and os.path.lexists(here / name):  # os.path's never raises for a long name
            continue
        existing = here
        while not os.path.exists(existing) and existing != existing.parent:
            existing = existing.parent
        limit = _name_limit(existing)
        room = _STAGING_ROOM if depth == len(parts) - 1 else 0
        if len(name.encode("utf-8", "surrogateescape")) > limit - room:
            why = NAME_LIMIT_WHY.format(limit=limit, room=room) if room else ""
            shown = str(path) if len(str(path)) <= 80 else f"{str(path)[:60]}..."  # the name is quoted after it
            raise UsageError(OUT_NAME_TOO_LONG.format(path=shown, length=len(name), start=name[:20],
                                                      allowed=limit - room, why=why, fix=fix))


@dataclass(frozen=True)
class OutputKind:
    """What one writer puts into its output folder, so that an existing folder can be recognised as one of ours.

    ``is_ours(folder)`` checks the files that mark it (e.g. a ``summary.json`` of our shape); ``entries`` are the
    top-level names such a folder may hold (what the writer and the commands that add to it write; None: any), so a
    folder that also holds the user's own files is never taken for ours. A writer without a kind accepts only a new or
    empty folder (a push's staging folder).
    """

    name: str  # "results folder": how messages call it
    is_ours: Callable[[Path], bool]
    entries: frozenset[str] | None = None

    def foreign(self, folder: Path) -> list[str]:
        """The entries of ``folder`` this kind does not write; all of them when it is not one of ours at all."""
        names = sorted(p.name for p in folder.iterdir())
        if not self.is_ours(folder):
            return names
        return [name for name in names if self.entries is not None and name not in self.entries]


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def check_not_input(out: str | os.PathLike, inputs) -> None:
    """Refuse an ``out`` that is, or holds, one of ``inputs`` (paths the command reads; Hub ids, None are skipped)."""
    real = _real(out)
    for given in inputs:
        if given is None or not os.path.lexists(given):
            continue  # a Hub id, or nothing on disk to protect
        if _within(_real(given), real):
            relation = "is" if _real(given) == real else "holds"
            raise UsageError(OUT_HOLDS_INPUT.format(path=out, relation=relation, input=given))


def _check_locks(out: Path, locks) -> None:
    from nlp_underspec.locks import held_by_another

    for lock in locks:
        holder = held_by_another(lock)
        if holder is not None:
            raise UsageError(OUT_LOCKED.format(path=out, pid=holder.get("pid"), host=holder.get("host"), lock=lock))


def check_replaceable(out: str | os.PathLike, kind: OutputKind | None) -> None:
    """Refuse to replace the existing, non-empty folder ``out`` unless it is one of ours and no live sweep holds it
    (the folder, a folder above it, e.g. its experiment, or one inside it, e.g. a run it trains)."""
    from nlp_underspec.locks import LOCK_NAMES

    out = Path(out)
    real = _real(out)
    _check_locks(out, [folder / name for folder in (real, *real.parents) for name in LOCK_NAMES])
    if kind is None:
        what = ", ".join(sorted(p.name for p in out.iterdir())[:4])
        raise UsageError(OUT_NOT_EMPTY.format(path=out, what=what))
    foreign = kind.foreign(out)
    if foreign:
        raise UsageError(OUT_NOT_OURS.format(path=out, what=", ".join(foreign[:4]), kind=kind.name))
    _check_locks(out, [path for name in LOCK_NAMES for path in real.rglob(name)])  # ours: a bounded walk


def check_output_folder(out: str | os.PathLike, *, overwrite: bool = False, accept_existing=None,
                        kind: OutputKind | None = None, inputs=()) -> None:
    """The refusals :func:`staged_output` makes, callable up front (before hours of work that would then be refused).

    A new ``out`` is always fine; an existing one never when it is (or holds) an input or the current folder. A
    non-empty one is replaced only when :func:`check_replaceable` allows it (ours, per ``kind``; without a kind it
    must be empty) and it holds the same run (``accept_existing``) or ``overwrite`` is set. ``--overwrite``
    therefore replaces only our own output, never what the user gave.
    """
    out = Path(out)
    check_output_path(out)
    if not out.is_dir():
        return
    check_not_input(out, inputs)
    if _within(_real(os.getcwd()), _real(out)):  # the swap renames the folder: not the one we stand in
        raise UsageError(OUT_HOLDS_CWD.format(path=out))
    if not any(out.iterdir()):
        return
    check_replaceable(out, kind)
    if not overwrite and (accept_existing is None or not accept_existing(out)):
        what = ", ".join(sorted(p.name for p in out.iterdir())[:4])
        raise UsageError(OUT_HOLDS_OTHER_RUN.format(path=out, what=what))


@contextlib.contextmanager
def staged_output(out: str | os.PathLike, *, overwrite: bool = False, accept_existing=None,
                  kind: OutputKind | None = None, inputs=()) -> Iterator[Path]:
    """Yield an empty staging folder; on success its contents replace ``out``, on error nothing in ``out`` changes.

    ``out`` may not exist, be empty, or hold an earlier output of ours (``kind``) that :func:`check_output_folder`
    lets be replaced: the same run (``accept_existing(out) -> bool``), or any of ours with ``overwrite``. A failure,
    also during the final swap, leaves no staging folder behind. An ``out`` that is a symbolic link to a folder writes
    that folder (what the link names, and what the checks inspected); the link itself is left as it is.
    """
    out = Path(out)
    check_output_folder(out, overwrite=overwrite, accept_existing=accept_existing, kind=kind, inputs=inputs)
    # "results" has parent ".", which renames fine; "." itself is refused above. A symbolic link to a folder is
    # followed: the folder it points to (checked above as ours) is replaced, and the link keeps pointing at it.
    # Swapping the link itself would leave the old folder and a renamed link behind.
    target = _real(out) if out.is_symlink() else Path(os.path.abspath(out))
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-"))
    try:
        _as_new_folder(stage)
        yield stage
        _swap_in(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap_in(stage: Path, out: Path) -> None:
    """Two renames, so a crash between them leaves either the old folder (as .old) or the new one, never a mix."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(stage, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)  # put the previous output back
        raise
    _fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
