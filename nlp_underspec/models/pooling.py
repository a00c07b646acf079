"""Mean pooling of token states: over a span's tokens (the span-pair head) and over a sentence's tokens (the
bi-encoder, the pooling the bi-encoder similarity scorer uses too).

The two differ in their floor on the token count (1 for a span: an empty span pools to zeros; 1e-9 for a sentence)
and in how they sum; each keeps the exact operations its head was trained with, so its numbers do not change.
"""

from __future__ import annotations

import torch


def mean_pool_spans(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # states (B, T, H); mask (B, T) or (B, C, T) of 0/1 -> mean over masked tokens: (B, H) or (B, C, H)
    mask = mask.to(states.dtype)
    if mask.dim() == 2:
        return torch.einsum("bt,bth->bh", mask, states) / mask.sum(-1, keepdim=True).clamp(min=1)
    return torch.einsum("bct,bth->bch", mask, states) / mask.sum(-1, keepdim=True).clamp(min=1)


def mean_pool_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sentence's token states over its attention mask: (B, T, H) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H)
