"""Reading pretraining text: a local .txt file, a folder of .txt files, or a Hub dataset, as a list of documents.

Each non-blank line is one document (a sentence or a paragraph: the pretraining loop packs them into blocks). WikiText
files are read sensibly: ``= Heading =`` lines are section titles, not prose, and are dropped; its tokenised version's
``@-@``, ``@,@`` and ``@.@`` markers are joined back (``3 @,@ 000`` -> ``3,000``). Blank lines are skipped.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterable

from nlp_underspec.data.hub_datasets import load_hub_dataset, looks_like_hub_id
from nlp_underspec.errors import UsageError
from nlp_underspec.textio import iter_lines

logger = logging.getLogger(__name__)

LAYOUTS = "a .txt file, a folder of .txt files, or a Hub dataset id with pretrain.corpus_config/corpus_split/text_column"
CORPUS_NOT_FOUND = "Corpus path {path} does not exist. Set pretrain.corpus to 'synthetic', " + LAYOUTS + "."
FOLDER_WITHOUT_TEXT = ("Corpus folder {path} holds no .txt files{hint}. Point pretrain.corpus at a .txt file or a folder "
                       "of them.")
NOT_TEXT_FILE = "Corpus file {path} is not a .txt file. Pretraining reads plain text, one document per line."
EMPTY_CORPUS = "Corpus {source} holds no text (only blank lines or headings). Point pretrain.corpus at text with content."
MISSING_TEXT_COLUMN = ("Hub dataset '{dataset}' has no column '{column}' (columns: {found}). Set pretrain.text_column to "
                       "the column holding the text.")

_HEADING = re.compile(r"^\s*(=+)\s.*\s\1\s*$")  # WikiText section titles: " = Title = ", " = = Section = = "
_WIKITEXT_JOINS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))


def clean_lines(lines: Iterable[str]) -> list[str]:
    """Documents from raw lines: stripped, blank lines and WikiText headings dropped, WikiText markers joined.

    >>> clean_lines([" = Homarus = ", "", " It weighs 3 @,@ 000 g and is well @-@ known . ", "  "])
    ['It weighs 3,000 g and is well-known .']
    """
    documents = []
    for line in lines:
        if not line.strip() or _HEADING.match(line):
            continue
        for marker, joined in _WIKITEXT_JOINS:
            line = line.replace(marker, joined)
        documents.append(line.strip())
    return documents


def _read_text_file(path: Path) -> list[str]:
    return clean_lines(iter_lines(path))  # streamed: a corpus can be large; not UTF-8 text -> textio.NOT_TEXT


def _text_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".txt")
    if not files:
        nested = sorted({p.parent.relative_to(folder).as_posix() for p in folder.rglob("*.txt")})
        hint = f" (subfolders with .txt files: {', '.join(nested)}; pick one)" if nested else ""
        raise UsageError(FOLDER_WITHOUT_TEXT.format(path=folder, hint=hint))
    return files


def read_local_corpus(path: str | os.PathLike) -> list[str]:
    """Documents from a .txt file or from every .txt file directly inside a folder (sorted by name)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(CORPUS_NOT_FOUND.format(path=path))
    if path.is_dir():
        documents = [doc for file in _text_files(path) for doc in _read_text_file(file)]
    elif path.suffix != ".txt":
        raise UsageError(NOT_TEXT_FILE.format(path=path))
    else:
        documents = _read_text_file(path)
    if not documents:
        raise UsageError(EMPTY_CORPUS.format(source=path))
    return documents


def read_hub_corpus(dataset: str, *, config: str | None, split: str, text_column: str) -> list[str]:
    data = load_hub_dataset(dataset, config, split, layouts=LAYOUTS)
    if text_column not in data.column_names:
        raise UsageError(MISSING_TEXT_COLUMN.format(dataset=dataset, column=text_column,
                                                    found=", ".join(data.column_names)))
    documents = clean_lines(str(text) for text in data[text_column] if text is not None)
    if not documents:
        raise UsageError(EMPTY_CORPUS.format(source=dataset))
    return documents


def read_corpus(source: str, *, config: str | None = None, split: str = "train", text_column: str = "text") -> list[str]:
    """A local path when it exists, else a Hub id when it looks like one, else a clear error naming the path."""
    path = Path(source).expanduser()
    if path.exists():
        return read_local_corpus(path)
    if looks_like_hub_id(source) and not source.startswith((".", "/", "~")):
        return read_hub_corpus(source, config=config, split=split, text_column=text_column)
    raise UsageError(CORPUS_NOT_FOUND.format(path=source))
