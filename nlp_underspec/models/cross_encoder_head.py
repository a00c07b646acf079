"""The coref ``cross_encoder`` head (and its ``substitution`` form), :class:`CandidateCrossEncoder`.

It needs no masked-LM head, so it fine-tunes any encoder (all-MiniLM-L6-v2 has none): each (sentence, candidate) pair
is one input, the sentence as written with the pronoun marked (``*she*``: which pronoun is meant, and its gender, stay
visible) and, as the second segment, the probe statement the ranking head masks, unmasked ("She is the nurse."), or
with ``substitution`` the sentence with the pronoun replaced by the candidate. One new linear output scores the pair;
a softmax over the sentence's candidates is trained with a cross-entropy. The checkpoint is saved as a one-output
sequence classifier marked :data:`~nlp_underspec.models.head_markers.CROSS_ENCODER_HEAD` (so it is never taken for
an STS cross-encoder), which the pronoun-resolution stress test's ``cross_encoder`` resolver scores the same way.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nlp_underspec.data.coref import CorefExample
from nlp_underspec.models.head_base import CandidateScoringOutput, WrappedModelHead
from nlp_underspec.models.head_markers import CROSS_ENCODER_HEAD
from nlp_underspec.models.probe_text import marked_sentence, pair_statement


def encode_pair_examples(tokenizer, examples: Sequence[CorefExample], *, max_length: int = 128,
                         statement: str = "probe") -> dict[str, torch.Tensor]:
    """One (marked sentence, statement) pair per (example, candidate), row ``i * C + j``; the statement is the probe
    statement or the substituted sentence (``statement``, one of :data:`PAIR_STATEMENTS`).

    Returns ``input_ids, attention_mask, token_type_ids (B * C, T)``, ``candidate_valid (B, C)`` and ``labels (B,)``
    when every example has one. An example with fewer than C candidates repeats its last pair in the spare rows,
    which ``candidate_valid`` leaves out. With ``probe`` only the sentence is cut to ``max_length`` (``only_first``),
    so the statement that names the candidate survives; a substituted sentence is as long as the sentence, so both
    are cut (``longest_first``), which can cut the candidate off a long passage: keep ``max_seq_length`` above twice
    the longest sentence for ``substitution``.
    """
    n_candidates = max(len(e.candidates) for e in examples)
    sentences, statements = [], []
    candidate_valid = torch.zeros(len(examples), n_candidates, dtype=torch.bool)
    for i, example in enumerate(examples):
        named = [pair_statement(example, j, statement) for j in range(len(example.candidates))]
        candidate_valid[i, :len(named)] = True
        statements += named + [named[-1]] * (n_candidates - len(named))
        sentences += [marked_sentence(example)] * n_candidates
    truncation = "only_first" if statement == "probe" else "longest_first"
    # what the tokenizer returns and no more: a model without segment embeddings takes no token_type_ids
    batch = dict(tokenizer(sentences, statements, padding=True, truncation=truncation, max_length=max_length,
                           return_tensors="pt"))  # each (B * C, T)
    batch["candidate_valid"] = candidate_valid
    if all(e.label is not None for e in examples):
        batch["labels"] = torch.tensor([e.label for e in examples], dtype=torch.long)
    return batch


class CandidateCrossEncoder(WrappedModelHead):
    """A one-output sequence classifier that scores each (sentence, candidate) pair; trained with a cross-entropy
    over a sentence's candidates. ``save_pretrained`` saves the classifier inside, marked :data:`CROSS_ENCODER_HEAD`.
    """

    inner_name = "classifier"
    head_marker = CROSS_ENCODER_HEAD

    def __init__(self, classifier, statement: str = "probe"):
        super().__init__(classifier)
        self.statement = statement

    def forward(self, candidate_valid=None, labels=None, **inputs) -> CandidateScoringOutput:
        scores = self.classifier(**inputs).logits.float().view(candidate_valid.shape)  # (B, C)
        scores = scores.masked_fill(~candidate_valid.bool(), float("-inf"))
        loss = nn.functional.cross_entropy(scores, labels) if labels is not None else None
        return CandidateScoringOutput(loss=loss, logits=scores)

    def mark_config(self, config) -> None:
        super().mark_config(config)
        config.nlp_underspec_pair_statement = self.statement  # the resolver pairs as trained
