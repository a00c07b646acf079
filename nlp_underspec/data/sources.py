"""Where training and evaluation data come from: one dispatcher per kind of data, used by training and the sweep.

A source is ``"synthetic"`` (the world of :mod:`nlp_underspec.synthetic` built from the recipe's ``world`` section) or
a user's path / Hub id in one of the documented layouts:

- pretraining text: :func:`load_corpus_texts` (:mod:`nlp_underspec.data.corpus`);
- STS pairs: :func:`load_sts_pairs` (anything :func:`nlp_underspec.data.stsb.load_stsb` takes);
- pronoun resolution: :func:`load_coref_examples` (a GAP folder or file; a ``.jsonl`` file in the candidate or the
  WinoGrande layout, or a folder with ``train/dev/test.jsonl``; a ``.txt`` file of 4-line Winograd blocks: DPR,
  WSC273, WikiCREM; see :mod:`nlp_underspec.data.winograd`);

The stress tests' sets of the synthetic world are written by :mod:`nlp_underspec.stress.synthetic_sets`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from nlp_underspec.config import PretrainConfig, WorldConfig
from nlp_underspec.data import gap, winograd
from nlp_underspec.data.coref import CorefExample, read_candidate_jsonl
from nlp_underspec.data.corpus import read_corpus
from nlp_underspec.data.stsb import load_stsb
from nlp_underspec.errors import UsageError
from nlp_underspec.synthetic import as_world

SYNTHETIC = "synthetic"
COREF_LAYOUTS = ("'synthetic', a GAP folder (gap-development.tsv, gap-validation.tsv, gap-test.tsv) or one GAP .tsv "
                 "file, a JSON Lines file (.jsonl) in the candidate or the WinoGrande layout, a folder with "
                 "train.jsonl/dev.jsonl/test.jsonl, or a .txt file of 4-line Winograd blocks (DPR, WSC273, WikiCREM)")
COREF_NOT_FOUND = "Coreference data {path} does not exist. Pass " + COREF_LAYOUTS + "."
COREF_UNKNOWN_LAYOUT = "Coreference data {path} is in no known layout. Pass " + COREF_LAYOUTS + "."
COREF_FOLDER_MISSING_SPLIT = "Coreference folder {path} has no {file} for the '{split}' split. Pass " + COREF_LAYOUTS + "."
UNKNOWN_SPLIT = "Unknown split '{split}'. Available: train, dev, test."
EMPTY_COREF = "Coreference data {path} ({split} split) holds no examples."
SPLITS = ("train", "dev", "test")


def load_corpus_texts(pretrain: PretrainConfig, world: WorldConfig) -> list[str]:
    """Pretraining documents (one string each) for ``pretrain.corpus``."""
    if pretrain.corpus == SYNTHETIC:
        return as_world(world).corpus_texts()
    return read_corpus(pretrain.corpus, config=pretrain.corpus_config, split=pretrain.corpus_split,
                       text_column=pretrain.text_column)


def synthetic_corpus_kinds(world: WorldConfig) -> list[str]:
    """The kind of each document of the synthetic corpus (``load_corpus_texts`` order), for a curriculum."""
    return list(as_world(world).corpus_kinds)


def load_sts_pairs(source: str | os.PathLike, split: str, world: WorldConfig) -> pd.DataFrame:
    """``sentence1, sentence2, label`` (gold 0-5; NaN where a split has none) plus ``source, line`` for error messages."""
    if str(source) == SYNTHETIC:
        frame = as_world(world).sts_frame(_check_split(split))
        frame["source"], frame["line"] = f"synthetic:sts/{split}", range(2, len(frame) + 2)
        return frame
    return load_stsb(source, split)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UsageError(UNKNOWN_SPLIT.format(split=split))
    return split


def load_coref_examples(source: str | os.PathLike, split: str, world: WorldConfig) -> list[CorefExample]:
    """Pronoun-resolution examples in the candidate format for one split."""
    _check_split(split)
    if str(source) == SYNTHETIC:
        return as_world(world).coref_examples(split)
    path = Path(source)
    if not path.exists():
        raise UsageError(COREF_NOT_FOUND.format(path=path))
    examples = _load_coref_path(path, split)
    if not examples:
        raise UsageError(EMPTY_COREF.format(path=path, split=split))
    return examples


def _load_coref_path(path: Path, split: str) -> list[CorefExample]:
    if path.is_dir():
        if any(path.glob("gap-*.tsv")):
            return gap.load_gap(path, split)
        if any(path.glob("*.jsonl")):
            file = path / f"{split}.jsonl"
            if not file.is_file():
                raise UsageError(COREF_FOLDER_MISSING_SPLIT.format(path=path, file=file.name, split=split))
            return _read_jsonl(file)
        raise UsageError(COREF_UNKNOWN_LAYOUT.format(path=path))
    # A single file is its own data whatever split is asked, as a single GAP .tsv is.
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    if path.suffix == ".txt":
        return winograd.read_block_file(path)
    if path.suffix == ".tsv":
        return gap.load_gap(path, split)
    raise UsageError(COREF_UNKNOWN_LAYOUT.format(path=path))


def _read_jsonl(path: Path) -> list[CorefExample]:
    """WinoGrande rows or candidate-format rows, told apart by the first row's keys (both are plain .jsonl)."""
    if winograd.is_winogrande_jsonl(path):
        return winograd.read_winogrande_jsonl(path)
    return read_candidate_jsonl(path)
