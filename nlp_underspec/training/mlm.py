"""Masked-language-model pieces: packing a corpus into blocks, stateless masking, and the head at masked positions.

- :func:`pack_blocks` concatenates tokenized sentences (each followed by ``[SEP]``) and cuts the stream into full
  blocks that start with ``[CLS]``: no compute is spent on padding.
- :class:`MaskedBlocks` masks each example as a pure function of (mask_seed, epoch, example index): the generator
  for one example is derived from those three numbers, so dataloader prefetching, resuming or a different number of
  devices never changes which tokens are masked.
- :class:`MaskedPositionsMLM` wraps a standard ``BertForMaskedLM`` and runs its vocabulary head only where a label
  exists (~15% of positions). The loss is the same as the full head's (a test checks it); the saved checkpoint is the
  plain ``BertForMaskedLM`` inside.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers.modeling_outputs import MaskedLMOutput

from nlp_underspec.seeding import torch_generator

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
    [[1, 5, 6, 2], [1, 7, 2, 8]]
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


def mask_tokens(input_ids: torch.Tensor, *, generator: torch.Generator, probability: float, mask_id: int,
                vocab_size: int, special: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of one sequence: ``probability`` of the non-special tokens become targets; of those 80% are
    replaced by ``[MASK]``, 10% by a random token, 10% kept. Returns ``(inputs, labels)``, both ``(T,)``."""
    draws = torch.rand(input_ids.shape, generator=generator)  # (T,)
    targets = (draws < probability) & ~special
    action = torch.rand(input_ids.shape, generator=generator)  # (T,): < 0.8 mask, < 0.9 random, else keep
    random_tokens = torch.randint(vocab_size, input_ids.shape, generator=generator)  # (T,)
    inputs = input_ids.clone()
    inputs[targets & (action < 0.8)] = mask_id
    use_random = targets & (action >= 0.8) & (action < 0.9)
    inputs[use_random] = random_tokens[use_random]
    labels = torch.where(targets, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return inputs, labels


class MaskedBlocks(Dataset):
    """Blocks of token ids, masked per (mask_seed, epoch, index); indexed by the loop's virtual indices."""

    def __init__(self, blocks: np.ndarray | list[np.ndarray], *, mask_seed: int, probability: float, mask_id: int,
                 vocab_size: int, special_ids: Sequence[int]):
        self.blocks = blocks
        self.mask_seed, self.probability = mask_seed, probability
        self.mask_id, self.vocab_size = mask_id, vocab_size
        self.special_ids = torch.tensor(sorted(set(special_ids)), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, virtual_index: int) -> dict[str, torch.Tensor]:
        epoch, index = divmod(int(virtual_index), len(self.blocks))
        input_ids = torch.as_tensor(self.blocks[index], dtype=torch.long)  # (T,)
        generator = torch_generator(self.mask_seed, "mask", epoch, index)
        inputs, labels = mask_tokens(input_ids, generator=generator, probability=self.probability,
                                     mask_id=self.mask_id, vocab_size=self.vocab_size,
                                     special=torch.isin(input_ids, self.special_ids))
        return {"input_ids": inputs, "labels": labels}


def collate_masked(examples: list[dict[str, torch.Tensor]], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Stack examples; pad (with an attention mask) only when lengths differ, so packed batches keep SDPA's fast path."""
    lengths = [len(e["input_ids"]) for e in examples]
    longest = max(lengths)
    if min(lengths) == longest:
        return {"input_ids": torch.stack([e["input_ids"] for e in examples]),  # (B, T)
                "labels": torch.stack([e["labels"] for e in examples])}  # (B, T)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)  # (B, T)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)  # (B, T)
    for row, (example, length) in enumerate(zip(examples, lengths)):
        input_ids[row, :length] = example["input_ids"]
        labels[row, :length] = example["labels"]
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


class MaskedPositionsMLM(nn.Module):
    """``BertForMaskedLM`` whose vocabulary head runs only at positions that carry a label.

    Same parameters and same loss as the wrapped model's own forward; the logits it returns are ``(M, V)`` for the M
    labelled positions only.
    """

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> MaskedLMOutput:
        hidden = self.mlm.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)
        selected = labels != IGNORE_INDEX  # (B, T)
        logits = self.mlm.cls(hidden[selected])  # (M, V)
        if logits.shape[0] == 0:  # no target in this batch: a zero loss that still touches the graph
            return MaskedLMOutput(loss=hidden.sum() * 0.0, logits=logits)
        loss = nn.functional.cross_entropy(logits.float(), labels[selected])
        return MaskedLMOutput(loss=loss, logits=logits)
