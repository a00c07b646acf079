"""The ``span_pair`` coref head, :class:`BertForCandidateScoring`: it encodes a sentence once, mean-pools the token
states of the pronoun span and of each candidate span, scores each (pronoun, candidate) pair with a small MLP over
``[p, c, p * c]``, and normalises with a softmax over the sentence's candidates.

Nothing is inserted into the text, so the pronoun stays as written; but the new MLP starts from nothing, so it cannot
use what the encoder's masked-LM head knew about who "she" is likely to be. It loads from any BERT checkpoint with
``from_pretrained``, which initialises only the scorer; no ``trust_remote_code`` is involved because the class is ours.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel

from nlp_underspec.data.coref import CorefExample
from nlp_underspec.models.head_base import CandidateScoringOutput
from nlp_underspec.models.head_markers import CANDIDATE_HEAD
from nlp_underspec.models.pooling import mean_pool_spans


class BertForCandidateScoring(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        config.nlp_underspec_head = CANDIDATE_HEAD
        hidden = config.hidden_size
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.scorer = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, pronoun_mask=None,
                candidate_mask=None, candidate_valid=None, labels=None, **kwargs) -> CandidateScoringOutput:
        states = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        states = self.dropout(states)  # (B, T, H)
        pronoun = mean_pool_spans(states, pronoun_mask)  # (B, H)
        candidates = mean_pool_spans(states, candidate_mask)  # (B, C, H)
        pronoun = pronoun.unsqueeze(1).expand_as(candidates)  # (B, C, H)
        logits = self.scorer(torch.cat([pronoun, candidates, pronoun * candidates], dim=-1)).squeeze(-1)  # (B, C)
        if candidate_valid is not None:
            logits = logits.masked_fill(~candidate_valid.bool(), float("-inf"))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels)
        return CandidateScoringOutput(loss=loss, logits=logits)


def _span_token_mask(offsets: torch.Tensor, span: tuple[int, int]) -> torch.Tensor:
    # offsets (T, 2) character ranges of tokens; special tokens have (0, 0). A token belongs to the span if they overlap.
    start, end = span
    return ((offsets[:, 0] < end) & (offsets[:, 1] > start) & (offsets[:, 1] > offsets[:, 0])).long()


def encode_candidate_examples(tokenizer, examples: Sequence[CorefExample], *, max_length: int = 128) -> dict[str, torch.Tensor]:
    """Tokenize examples and turn their character spans into token masks (needs a fast tokenizer for offsets).

    Returns ``input_ids, attention_mask, token_type_ids, pronoun_mask (B, T), candidate_mask (B, C, T),
    candidate_valid (B, C)`` and ``labels (B,)`` when every example has one. A span cut off by ``max_length`` gets an
    empty mask and pools to zeros rather than failing.
    """
    batch = tokenizer([e.text for e in examples], padding=True, truncation=True, max_length=max_length,
                      return_offsets_mapping=True, return_tensors="pt")
    offsets = batch.pop("offset_mapping")  # (B, T, 2)
    n_candidates = max(len(e.candidates) for e in examples)
    B, T = batch["input_ids"].shape
    pronoun_mask = torch.zeros(B, T, dtype=torch.long)
    candidate_mask = torch.zeros(B, n_candidates, T, dtype=torch.long)
    candidate_valid = torch.zeros(B, n_candidates, dtype=torch.bool)
    for i, example in enumerate(examples):
        pronoun_mask[i] = _span_token_mask(offsets[i], example.pronoun)
        for j, span in enumerate(example.candidates):
            candidate_mask[i, j] = _span_token_mask(offsets[i], span)
            candidate_valid[i, j] = True
    batch = dict(batch)
    batch.update(pronoun_mask=pronoun_mask, candidate_mask=candidate_mask, candidate_valid=candidate_valid)
    if all(e.label is not None for e in examples):
        batch["labels"] = torch.tensor([e.label for e in examples], dtype=torch.long)
    return batch
