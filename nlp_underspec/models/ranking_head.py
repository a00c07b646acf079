"""The ``ranking`` coref head, :class:`CandidateRanker`: it keeps the masked-LM head and asks it.

The sentence stays as written (pronoun and gender visible) and a probe naming the antecedent is appended with the
candidate's tokens masked ("... because she had fixed the problem. She is the [MASK]."); a candidate's score is the
mean log-probability of its own tokens there (the only tokens that differ between candidates, so no evidence is
diluted by averaging over the whole probe). Training is a cross-entropy over the candidates' scores; the saved
checkpoint is a plain masked LM (marked :data:`~nlp_underspec.models.head_markers.RANKING_HEAD`), which the
pronoun-resolution stress test's ``mlm_probe`` resolver scores the same way. Because the scores are the masked LM's
own, the prior it learnt in pretraining reaches the decision, as it does in a pretrained model probed without
fine-tuning.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nlp_underspec.data.coref import CorefExample
from nlp_underspec.errors import UsageError
from nlp_underspec.models.head_base import CandidateScoringOutput, WrappedModelHead
from nlp_underspec.models.head_markers import RANKING_HEAD
from nlp_underspec.models.probe_text import probe_text

PROBE_TOO_LONG = ("The probe text '{text}' is longer than the model's {limit} tokens, so its probe would be cut off. "
                  "Use a model with more positions, or shorter sentences.")


def encode_ranking_examples(tokenizer, examples: Sequence[CorefExample], *, max_length: int = 128) -> dict[str, torch.Tensor]:
    """One masked probe text per (example, candidate), identical texts once (single-token candidates of one
    sentence share a text: only the masked token's identity differs), and where each candidate's tokens are.

    Returns ``input_ids, attention_mask, token_type_ids (N, T)`` over the distinct texts, ``candidate_text (B, C)``
    (which text), ``candidate_positions, candidate_tokens (B, C, K)`` and ``candidate_token_valid (B, C, K)`` (the
    candidate's token positions and ids, K = most tokens of a candidate), ``candidate_valid (B, C)``, and ``labels
    (B,)`` when every example has one. A probe longer than ``max_length`` is an error (cutting it would score nothing).
    """
    texts, spans, owners = _probe_texts(examples)
    sequences, located = _masked_probes(tokenizer, texts, spans, max_length=max_length)
    input_ids, attention_mask = _padded(sequences, tokenizer.pad_token_id)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids),
             **_candidate_locations(examples, owners, located)}
    if all(e.label is not None for e in examples):
        batch["labels"] = torch.tensor([e.label for e in examples], dtype=torch.long)
    return batch


def _probe_texts(examples: Sequence[CorefExample]) -> tuple[list[str], list[tuple[int, int]], list[tuple[int, int]]]:
    """Each (example, candidate)'s probe text, the candidate's character span in it, and (example, candidate)."""
    texts, spans, owners = [], [], []
    for i, example in enumerate(examples):
        pronoun = example.span_text(example.pronoun)
        for j, span in enumerate(example.candidates):
            text, candidate_span = probe_text(example.text, pronoun, example.candidate_name(j))
            texts.append(text)
            spans.append(candidate_span)
            owners.append((i, j))
    return texts, spans, owners


def _masked_probes(tokenizer, texts: list[str], spans: list[tuple[int, int]], *, max_length: int):
    """The distinct masked token sequences, and per text (which sequence, the candidate's positions, its ids)."""
    encoded = tokenizer(texts, add_special_tokens=True, return_offsets_mapping=True, truncation=False)
    distinct: dict[tuple[int, ...], int] = {}
    sequences, located = [], []
    for text, ids, offsets, span in zip(texts, encoded["input_ids"], encoded["offset_mapping"], spans):
        if len(ids) > max_length:
            raise UsageError(PROBE_TOO_LONG.format(text=text, limit=max_length))
        positions = [k for k, (first, last) in enumerate(offsets) if last > first and first < span[1] and last > span[0]]
        masked = list(ids)
        for k in positions:
            masked[k] = tokenizer.mask_token_id
        index = distinct.setdefault(tuple(masked), len(sequences))
        if index == len(sequences):
            sequences.append(masked)
        located.append((index, positions, [ids[k] for k in positions]))
    return sequences, located


def _candidate_locations(examples: Sequence[CorefExample], owners, located) -> dict[str, torch.Tensor]:
    """``candidate_text (B, C)``, ``candidate_positions, candidate_tokens, candidate_token_valid (B, C, K)`` and
    ``candidate_valid (B, C)``: where each candidate's tokens are, zero-padded."""
    n_candidates = max(len(e.candidates) for e in examples)
    width = max(len(positions) for _, positions, _ in located)
    B = len(examples)
    candidate_text = torch.zeros(B, n_candidates, dtype=torch.long)
    candidate_positions = torch.zeros(B, n_candidates, width, dtype=torch.long)
    candidate_tokens = torch.zeros(B, n_candidates, width, dtype=torch.long)
    candidate_token_valid = torch.zeros(B, n_candidates, width, dtype=torch.bool)
    candidate_valid = torch.zeros(B, n_candidates, dtype=torch.bool)
    for (i, j), (index, positions, tokens) in zip(owners, located):
        candidate_text[i, j] = index
        candidate_positions[i, j, :len(positions)] = torch.tensor(positions, dtype=torch.long)
        candidate_tokens[i, j, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        candidate_token_valid[i, j, :len(positions)] = True
        candidate_valid[i, j] = bool(positions)
    return {"candidate_text": candidate_text, "candidate_positions": candidate_positions,
            "candidate_tokens": candidate_tokens, "candidate_token_valid": candidate_token_valid,
            "candidate_valid": candidate_valid}


def _padded(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` padded with ``pad_id`` and its ``attention_mask``: (N, T), T the longest sequence."""
    longest = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)  # (N, T)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(sequences):
        input_ids[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, :len(ids)] = 1
    return input_ids, attention_mask


def mlm_parts(model):
    """(encoder, vocabulary head) of a BERT- or RoBERTa-style masked LM, so the head runs where it is needed only;
    (None, None) for other layouts."""
    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "cls", None) or getattr(model, "lm_head", None)
    return (encoder, head) if encoder is not None and head is not None else (None, None)


def candidate_scores(mlm, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean log-probability of each candidate's tokens at their masked positions: ``(B, C)``, -inf for padding."""
    encoder, head = mlm_parts(mlm)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    positions, valid = batch["candidate_positions"], batch["candidate_token_valid"]  # (B, C, K)
    texts = batch["candidate_text"].unsqueeze(-1).expand_as(positions)  # (B, C, K)
    if head is not None:
        hidden = encoder(**inputs).last_hidden_state  # (N, T, H)
        logits = head(hidden[texts, positions])  # (B, C, K, V)
    else:
        logits = mlm(**inputs).logits[texts, positions]  # (B, C, K, V)
    token_logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, batch["candidate_tokens"].unsqueeze(-1))
    token_logp = token_logp.squeeze(-1) * valid  # (B, C, K)
    scores = token_logp.sum(-1) / valid.sum(-1).clamp(min=1)  # (B, C)
    return scores.masked_fill(~batch["candidate_valid"], float("-inf"))


class CandidateRanker(WrappedModelHead):
    """A masked LM trained to rank candidates by :func:`candidate_scores` (cross-entropy over the candidates).

    ``save_pretrained`` saves the masked LM inside, marked :data:`RANKING_HEAD`.
    """

    inner_name = "mlm"
    head_marker = RANKING_HEAD

    def forward(self, labels=None, **batch) -> CandidateScoringOutput:
        logits = candidate_scores(self.mlm, batch)  # (B, C)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return CandidateScoringOutput(loss=loss, logits=logits)
