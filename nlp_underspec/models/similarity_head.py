"""The stsb ``bi_encoder`` head, :class:`CosineSimilarityRegressor`: it mean-pools each sentence and regresses the
cosine of the two on gold / 5 (Sentence-BERT's objective). The saved checkpoint is a plain encoder (marked
:data:`~nlp_underspec.models.head_markers.BI_ENCODER_HEAD`), which the bi-encoder similarity scorer scores with the
same pooling. (The stsb ``cross_encoder`` head is a plain one-label sequence classifier: transformers' own.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from transformers.modeling_outputs import ModelOutput

from nlp_underspec.models.head_base import WrappedModelHead
from nlp_underspec.models.head_markers import BI_ENCODER_HEAD
from nlp_underspec.models.pooling import mean_pool_tokens

STS_SCALE = 5.0  # STS-B gold runs 0-5; a cosine of 1 means 5


@dataclass
class SimilarityOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B,) cosine similarity x STS_SCALE: on the gold's 0-5 scale


def encode_sentence_pairs(tokenizer, pairs: Sequence[tuple[str, str, float]], *, max_length: int) -> dict[str, torch.Tensor]:
    """Each sentence of (sentence1, sentence2, gold) tokenized on its own, all in one padded batch: rows ``0..B-1``
    are the first sentences, ``B..2B-1`` the second ones (``input_ids, attention_mask (2B, T)``), ``labels (B,)``.

    One encoder pass over both sides costs less than two on a CPU, where a tiny model's time goes to per-op overhead.
    """
    first, second, golds = zip(*pairs)
    batch = dict(tokenizer(list(first) + list(second), padding=True, truncation=True, max_length=max_length,
                           return_tensors="pt"))  # each (2B, T)
    batch["labels"] = torch.tensor(golds, dtype=torch.float32)  # (B,)
    return batch


class CosineSimilarityRegressor(WrappedModelHead):
    """An encoder whose mean-pooled sentence embeddings have cosine ~ gold / 5 (MSE), as Sentence-BERT trains it.

    ``save_pretrained`` saves the encoder inside, marked :data:`BI_ENCODER_HEAD`.
    """

    inner_name = "encoder"
    head_marker = BI_ENCODER_HEAD

    def embed(self, **side) -> torch.Tensor:
        # (B, H): the pooling the bi-encoder similarity scorer uses
        return mean_pool_tokens(self.encoder(**side).last_hidden_state, side["attention_mask"])

    def forward(self, labels=None, **batch) -> SimilarityOutput:
        embeddings = self.embed(**batch)  # (2B, H): first sentences, then second ones
        first, second = embeddings.chunk(2, dim=0)  # (B, H) each
        cosine = nn.functional.cosine_similarity(first, second, dim=-1)  # (B,)
        loss = nn.functional.mse_loss(cosine, labels / STS_SCALE) if labels is not None else None
        return SimilarityOutput(loss=loss, logits=cosine * STS_SCALE)
