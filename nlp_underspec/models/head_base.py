"""What the task heads share: the output record of a candidate scorer, and the wrapper that trains around one
transformers model and saves that model, marked, as the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.modeling_outputs import ModelOutput


@dataclass
class CandidateScoringOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, C); -inf where a candidate slot is padding


class WrappedModelHead(nn.Module):
    """A training head around one transformers model, held in the attribute ``inner_name`` (which also names its
    weights in a resume state). Its ``config`` is the inner model's; ``save_pretrained`` saves the inner model with
    ``config.nlp_underspec_head = head_marker``, so a loader knows how it was trained."""

    inner_name = "model"
    head_marker = ""

    def __init__(self, inner):
        super().__init__()
        setattr(self, self.inner_name, inner)

    @property
    def inner(self):
        return getattr(self, self.inner_name)

    @property
    def config(self):
        return self.inner.config

    def mark_config(self, config) -> None:
        """Record in ``config`` what a loader needs to know of this head."""
        config.nlp_underspec_head = self.head_marker

    def save_pretrained(self, folder, **kwargs) -> None:
        self.mark_config(self.inner.config)
        self.inner.save_pretrained(folder, **kwargs)
