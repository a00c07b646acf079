"""Masked-language-model pieces: packing a corpus into blocks, stateless masking, and the head at masked positions.

- :func:`pack_blocks` concatenates tokenized sentences (each followed by ``[SEP]``) and cuts the stream into full
  blocks that start with ``[CLS]``: no compute is spent on padding.
- :class:`MaskedBlocks` masks each example as a pure function of (mask_seed, epoch, example index): its random
  draws come from a counter-based hash of those numbers and the token position (no generator state, vectorised over
  the batch), so dataloader prefetching, resuming or a different number of devices never changes which tokens are
  masked.
- :class:`MaskedPositionsMLM` wraps a standard ``BertForMaskedLM`` and runs its vocabulary head, and its last encoder
  layer except for the keys and values, only where a label exists (~15% of positions). The loss and gradients are
  the same as the full model's (tests check them); the saved checkpoint is the plain ``BertForMaskedLM`` inside.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers.modeling_outputs import MaskedLMOutput

from nlp_underspec.seeding import derive_seed
from nlp_underspec.training import selected_positions

IGNORE_INDEX = -100  # label of positions without a prediction target (PyTorch's cross_entropy default)


def tokenize_corpus(tokenizer, texts: Sequence[str], *, batch_size: int = 10_000) -> list[list[int]]:
    """Token ids of every text, without special tokens (straight through the Rust backend, in batches)."""
    backend = copy.deepcopy(tokenizer.backend_tokenizer)
    backend.no_truncation()  # a tokenizer.json may carry a max_length: documents must not be cut here
    backend.no_padding()
    ids: list[list[int]] = []
    for start in range(0, len(texts), batch_size):
        ids.extend(e.ids for e in backend.encode_batch(list(texts[start:start + batch_size]), add_special_tokens=False))
    return ids


def pack_blocks(token_ids: Sequence[Sequence[int]], *, block_size: int, cls_id: int, sep_id: int) -> np.ndarray:
    """``(n_blocks, block_size)`` int64: ``[CLS]`` then a slice of the ``sentence [SEP] sentence [SEP] ...`` stream.

    The tail that does not fill a block is dropped.

    >>> pack_blocks([[5, 6], [7], [8, 9, 10]], block_size=4, cls_id=1, sep_id=2).tolist()
    [[1, 5, 6, 2], [1, 7, 2, 8], [1, 9, 10, 2]]
    """
    body = block_size - 1
    stream = np.fromiter((t for ids in token_ids for t in (*ids, sep_id)), dtype=np.int64)
    n_blocks = len(stream) // body
    blocks = np.empty((n_blocks, block_size), dtype=np.int64)  # (N, L)
    blocks[:, 0] = cls_id
    blocks[:, 1:] = stream[: n_blocks * body].reshape(n_blocks, body)
    return blocks


def sentence_blocks(token_ids: Sequence[Sequence[int]], *, block_size: int, cls_id: int, sep_id: int) -> list[np.ndarray]:
    """One ``[CLS] sentence [SEP]`` sequence per text (truncated to ``block_size``), for ``pack: false``."""
    body = block_size - 2
    return [np.asarray([cls_id, *ids[:body], sep_id], dtype=np.int64) for ids in token_ids if len(ids)]


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_STREAM_TARGET, _STREAM_ACTION, _STREAM_TOKEN = 1, 2, 3  # independent draws per position


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, element-wise on uint64 (wrap-around arithmetic is the point)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniform_draws(keys: np.ndarray, length: int, stream: int) -> np.ndarray:
    """``(B, length)`` uniforms in [0, 1), a pure function of (key, position, stream): counter-based randomness.

    >>> first = uniform_draws(np.array([7, 8], dtype=np.uint64), 4, stream=1)
    >>> bool((first == uniform_draws(np.array([7], dtype=np.uint64), 4, stream=1)[0]).all(axis=1)[0])
    True
    """
    base = _splitmix64(np.asarray(keys, dtype=np.uint64) ^ _splitmix64(np.full(1, stream, dtype=np.uint64)))  # (B,)
    positions = np.arange(length, dtype=np.uint64) * _GOLDEN  # (T,)
    bits = _splitmix64(base[:, None] ^ positions[None, :])  # (B, T)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def example_keys(mask_seed: int, virtual_indices: Sequence[int]) -> np.ndarray:
    """One 64-bit key per example from (mask_seed, epoch * n + index): which tokens it masks depends on nothing else."""
    seed = np.full(1, derive_seed(mask_seed, "mask"), dtype=np.uint64)
    return _splitmix64(np.asarray(virtual_indices, dtype=np.uint64) ^ _splitmix64(seed))  # (B,)


def mask_tokens(input_ids: torch.Tensor, *, keys: np.ndarray, probability: float, mask_id: int, vocab_size: int,
                special: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of a ``(B, T)`` batch: ``probability`` of the non-special tokens become targets; of those 80% are
    replaced by ``[MASK]``, 10% by a random token, 10% kept. Row b draws only from ``keys[b]``.
    Returns ``(inputs, labels)``, both ``(B, T)``."""
    length = input_ids.shape[1]
    targets = torch.from_numpy(uniform_draws(keys, length, _STREAM_TARGET) < probability) & ~special  # (B, T)
    action = torch.from_numpy(uniform_draws(keys, length, _STREAM_ACTION))  # (B, T): < 0.8 mask, < 0.9 random
    random_tokens = torch.from_numpy((uniform_draws(keys, length, _STREAM_TOKEN) * vocab_size).astype(np.int64))
    inputs = input_ids.clone()
    inputs[targets & (action < 0.8)] = mask_id
    use_random = targets & (action >= 0.8) & (action < 0.9)
    inputs[use_random] = random_tokens[use_random]
    labels = torch.where(targets, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return inputs, labels


class MaskedBlocks(Dataset):
    """Blocks of token ids indexed by the loop's virtual indices (``epoch * n + i``); :meth:`collate` pads and masks
    a batch, each example as a pure function of (mask_seed, epoch, index)."""

    def __init__(self, blocks: np.ndarray | list[np.ndarray], *, mask_seed: int, probability: float, mask_id: int,
                 vocab_size: int, special_ids: Sequence[int], pad_id: int = 0):
        self.blocks = blocks
        self.mask_seed, self.probability = mask_seed, probability
        self.mask_id, self.vocab_size, self.pad_id = mask_id, vocab_size, pad_id
        self.special_ids = torch.tensor(sorted(set(special_ids) | {pad_id}), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, virtual_index: int) -> dict:
        return {"input_ids": torch.as_tensor(self.blocks[int(virtual_index) % len(self.blocks)], dtype=torch.long),
                "index": int(virtual_index)}

    def collate(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        """Stack (padding only ragged batches, so packed ones keep SDPA's fast path) and mask."""
        lengths = [len(e["input_ids"]) for e in examples]
        longest = max(lengths)
        input_ids = torch.full((len(examples), longest), self.pad_id, dtype=torch.long)  # (B, T)
        for row, (example, length) in enumerate(zip(examples, lengths)):
            input_ids[row, :length] = example["input_ids"]
        keys = example_keys(self.mask_seed, [e["index"] for e in examples])
        inputs, labels = mask_tokens(input_ids, keys=keys, probability=self.probability, mask_id=self.mask_id,
                                     vocab_size=self.vocab_size, special=torch.isin(input_ids, self.special_ids))
        batch = {"input_ids": inputs, "labels": labels}
        if min(lengths) < longest:
            attention_mask = torch.zeros_like(input_ids)  # (B, T)
            for row, length in enumerate(lengths):
                attention_mask[row, :length] = 1
            batch["attention_mask"] = attention_mask
        return batch


class MaskedPositionsMLM(nn.Module):
    """``BertForMaskedLM`` whose vocabulary head, and last encoder layer bar its keys and values, run only at positions
    that carry a label (:mod:`~nlp_underspec.training.selected_positions`).

    Same parameters and same loss as the wrapped model's own forward (and, with dropout, the same distribution of
    it); the logits it returns are ``(M, V)`` for the M labelled positions only.
    """

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> MaskedLMOutput:
        selected = labels != IGNORE_INDEX  # (B, T)
        if not selected.any():  # no target in this batch: a zero loss that still touches the whole encoder's graph
            hidden = self.mlm.bert(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)
            return MaskedLMOutput(loss=hidden.sum() * 0.0, logits=self.mlm.cls(hidden[selected]))
        hidden = selected_positions.encode_selected(self.mlm.bert, input_ids, selected, attention_mask=attention_mask,
                                                    token_type_ids=token_type_ids)  # (M, H)
        logits = self.mlm.cls(hidden)  # (M, V)
        loss = nn.functional.cross_entropy(logits.float(), labels[selected])
        return MaskedLMOutput(loss=loss, logits=logits)
