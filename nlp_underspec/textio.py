"""The one reader of user text files: every table, recipe, JSON file and corpus the package reads comes through here.

Editors and spreadsheets save "text" in several encodings. A file is read as UTF-8 unless it starts with a byte-order
mark (BOM), which names its encoding: UTF-8 (Excel's "CSV UTF-8"), UTF-16 LE/BE (Windows "Unicode"), UTF-32 LE/BE. The
mark is stripped, so a BOM'd header reads ``sentid``, not ``\\ufeffsentid``. Anything else that is not valid text (a
Latin-1 byte, a NUL of UTF-16 saved without its mark, a binary file) is refused with one message naming the file, the
line and byte offset, and what to do; the reader never guesses an encoding, because a wrong guess changes the data
silently.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
from pathlib import Path
from typing import Iterator

from nlp_underspec.errors import UsageError

NOT_TEXT = "{path} is not UTF-8 text: {problem} (line {line}, byte offset {offset}). Save it as UTF-8."
NOT_A_REGULAR_FILE = ("{path} is not a regular file (a named pipe, socket or device), so reading it would wait "
                      "for a writer or never end. Pass a file saved on disk.")
CANNOT_READ = "Cannot read {path}: {reason}. Check that it is a file you may read."
# The problems NOT_TEXT names.
BAD_UTF8_BYTE = "byte 0x{byte:02X} is not valid UTF-8; the file may be Latin-1 or Windows-1252"
TRUNCATED_UTF8 = "the file ends inside a multi-byte character; it may be truncated"
BAD_BOM_TEXT = "it starts with a {encoding} byte-order mark but what follows is not {encoding}: {reason}"
NUL_UTF16 = "it holds NUL bytes; it looks like UTF-16 saved without a byte-order mark"
NUL_BINARY = "it holds a NUL byte, so it is binary, not text"

# Codecs that strip their own mark, for reading a file as a stream.
_STREAM_CODECS = {"utf-8": "utf-8-sig", "utf-16-le": "utf-16", "utf-16-be": "utf-16", "utf-32-le": "utf-32",
                  "utf-32-be": "utf-32"}
# Longest marks first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE"),
         (codecs.BOM_UTF8, "utf-8", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"))


def detect_encoding(data: bytes) -> tuple[str, str | None, int]:
    """``(codec, name of the BOM's encoding or None, length of the BOM)`` for the start of a file.

    >>> detect_encoding(b"\\xef\\xbb\\xbfsentid"), detect_encoding(b"sentid")
    (('utf-8', 'UTF-8', 3), ('utf-8', None, 0))
    """
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return codec, name, len(bom)
    return "utf-8", None, 0


def decode_text(data: bytes, path: str | os.PathLike) -> str:
    """The text of a file's bytes, BOM stripped; a UsageError naming ``path`` when they are not text."""
    codec, bom_name, start = detect_encoding(data)
    if bom_name is None and b"\0" in data:  # checked first: UTF-16 without its mark is not "Latin-1 at byte 3"
        offset = data.index(b"\0")
        problem = NUL_UTF16 if _looks_like_utf16(data) else NUL_BINARY
        raise UsageError(NOT_TEXT.format(path=path, problem=problem, line=data.count(b"\n", 0, offset) + 1,
                                         offset=offset))
    try:
        text = data[start:].decode(codec)
    except UnicodeDecodeError as err:
        offset = start + err.start
        if bom_name is not None:
            problem = BAD_BOM_TEXT.format(encoding=bom_name, reason=err.reason)
        elif err.reason == "unexpected end of data":
            problem = TRUNCATED_UTF8
        else:
            problem = BAD_UTF8_BYTE.format(byte=data[offset])
        raise UsageError(NOT_TEXT.format(path=path, problem=problem, line=_line_at(data, offset, codec, start),
                                         offset=offset)) from None
    nul = text.find("\0")
    if nul >= 0:  # a NUL character in a BOM'd file: no text holds one
        offset = start + len(text[:nul].encode(codec))
        raise UsageError(NOT_TEXT.format(path=path, problem=NUL_BINARY, line=text.count("\n", 0, nul) + 1,
                                         offset=offset))
    return text


def _line_at(data: bytes, offset: int, codec: str, start: int) -> int:
    return data[start:offset].decode(codec, errors="replace").count("\n") + 1


def _looks_like_utf16(data: bytes) -> bool:
    """ASCII text in UTF-16 has a NUL in every other byte; a binary file's NULs fall anywhere."""
    head = data[:4096]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return max(even, odd) >= len(head) // 4 and min(even, odd) <= max(even, odd) // 8


def _check_regular(path: Path) -> None:
    """A named pipe or a device would block the read (a FIFO as the corpus hung with no output) or never end."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # the read below names what is wrong
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UsageError(NOT_A_REGULAR_FILE.format(path=path))


def read_text(path: str | os.PathLike) -> str:
    """The whole text of a file (see the module docstring for encodings); one UsageError for anything unreadable."""
    path = Path(path)
    _check_regular(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(CANNOT_READ.format(path=path, reason=err.strerror or type(err).__name__)) from None
    return decode_text(data, path)


def iter_lines(path: str | os.PathLike) -> Iterator[str]:
    """The lines of a file as :func:`open` yields them (universal newlines), decoded as they are read: for corpora
    too large to hold as bytes and text at once. Same encodings and the same errors as :func:`read_text`."""
    path = Path(path)
    _check_regular(path)
    try:
        with open(path, "rb") as raw:
            codec, _bom, _start = detect_encoding(raw.read(4))
        with open(path, encoding=_STREAM_CODECS[codec]) as handle:
            for line in handle:
                if "\0" in line:
                    break
                yield line
            else:
                return
    except UnicodeDecodeError:
        pass
    except OSError as err:
        raise UsageError(CANNOT_READ.format(path=path, reason=err.strerror or type(err).__name__)) from None
    read_text(path)  # not text: decode the whole file once more for the exact message (line and byte offset)
    raise UsageError(CANNOT_READ.format(path=path, reason="it changed while it was read"))


def open_text(path: str | os.PathLike, *, newline: str | None = None) -> io.StringIO:
    """:func:`read_text` as a file object, for ``csv.reader``, pandas and line loops; ``newline`` as in :func:`open`
    (``""`` for the csv module, which handles line endings itself)."""
    return io.StringIO(read_text(path), newline=newline)


def visible(text: str) -> str:
    """``text`` with invisible characters spelled out, for messages that quote what a file holds.

    >>> visible("\\ufeffsentid"), visible("sent\\u200bence"), visible("a b")
    ('<U+FEFF>sentid', 'sent<U+200B>ence', 'a b')
    """
    return "".join(c if c.isprintable() else f"<U+{ord(c):04X}>" for c in str(text))
