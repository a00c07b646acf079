"""The fine-tuning tasks (``stsb``: regression, ``coref``: candidate scoring): how each loads its data, builds the
model of each of its heads (``config.TASK_HEADS``; the head classes are in :mod:`nlp_underspec.models`), batches
examples, and scores its dev split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from nlp_underspec.config import WorldConfig
from nlp_underspec.data.sources import load_coref_examples, load_sts_pairs
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.models import load_checked
from nlp_underspec.training.dev_evaluation import score_coref, score_sts


@dataclass(frozen=True)
class Head:
    """How one head of a task builds its model and batches examples."""

    build_model: Callable[[str], torch.nn.Module]  # checkpoint -> model with a freshly initialised head
    collate: Callable[[Any, int], Callable[[list], dict]]  # (tokenizer, max_length) -> collate_fn


@dataclass(frozen=True)
class Task:
    """How one task loads data, which heads it can train, and how it scores the dev split."""

    name: str
    load: Callable[[str, str, WorldConfig], list]  # (source, split, world) -> labelled examples
    heads: dict[str, Head]  # config.TASK_HEADS[name] -> Head
    predictions: Callable[[Any], torch.Tensor]  # model output -> (B,) or (B, C) predictions
    score: Callable[[np.ndarray, np.ndarray], dict[str, float | None]]  # (predictions, golds) -> dev metrics


def _load_sts_examples(source: str, split: str, world: WorldConfig) -> list[tuple[str, str, float]]:
    frame = load_sts_pairs(source, split, world)
    labelled = frame[np.isfinite(frame["label"].to_numpy(dtype=float))]
    return list(zip(labelled["sentence1"].astype(str), labelled["sentence2"].astype(str),
                    labelled["label"].astype(float)))


def _load_coref_examples(source: str, split: str, world: WorldConfig) -> list:
    return [e for e in load_coref_examples(source, split, world) if e.label is not None]


# The builders load through models.load_checked: the encoder must load whole (a random encoder fine-tuned would be
# garbage recorded as complete). The cross-encoder's and span-pair's heads are new on purpose (fresh_head); the
# ranking head is the checkpoint's own masked-LM head, so it must be there.


def _build_sts_model(checkpoint: str) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    return load_checked(AutoModelForSequenceClassification, checkpoint, "cross", fresh_head=True, num_labels=1,
                        problem_type="regression", trust_remote_code=False)


def _build_bi_encoder(checkpoint: str) -> torch.nn.Module:
    from transformers import AutoModel

    from nlp_underspec.models.similarity_head import CosineSimilarityRegressor

    return CosineSimilarityRegressor(load_checked(AutoModel, checkpoint, "bi", add_pooling_layer=False,
                                                  trust_remote_code=False))


def _build_coref_model(checkpoint: str) -> torch.nn.Module:
    from nlp_underspec.models.span_pair_head import BertForCandidateScoring

    return load_checked(BertForCandidateScoring, checkpoint, "coref", fresh_head=True, trust_remote_code=False)


def _build_ranker(checkpoint: str) -> torch.nn.Module:
    from transformers import AutoModelForMaskedLM

    from nlp_underspec.models.ranking_head import CandidateRanker

    return CandidateRanker(load_checked(AutoModelForMaskedLM, checkpoint, "mlm", trust_remote_code=False))


def _build_candidate_cross_encoder(checkpoint: str, statement: str = "probe") -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    from nlp_underspec.models.cross_encoder_head import CandidateCrossEncoder

    return CandidateCrossEncoder(load_checked(AutoModelForSequenceClassification, checkpoint, "cross",
                                              fresh_head=True, num_labels=1, trust_remote_code=False), statement)


def _build_substitution_cross_encoder(checkpoint: str) -> torch.nn.Module:
    return _build_candidate_cross_encoder(checkpoint, "substitution")


def _sts_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    def collate(examples: list[tuple[str, str, float]]) -> dict[str, torch.Tensor]:
        first, second, labels = zip(*examples)
        batch = dict(tokenizer(list(first), list(second), padding=True, truncation=True, max_length=max_length,
                               return_tensors="pt"))  # each (B, T)
        batch["labels"] = torch.tensor(labels, dtype=torch.float32)  # (B,)
        return batch

    return collate


def _bi_encoder_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    from nlp_underspec.models.similarity_head import encode_sentence_pairs

    def collate(examples: list[tuple[str, str, float]]) -> dict[str, torch.Tensor]:
        return encode_sentence_pairs(tokenizer, examples, max_length=max_length)

    return collate


def _coref_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    from nlp_underspec.models.span_pair_head import encode_candidate_examples

    def collate(examples: list) -> dict[str, torch.Tensor]:
        return encode_candidate_examples(tokenizer, examples, max_length=max_length)

    return collate


def _ranking_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    from nlp_underspec.models.ranking_head import encode_ranking_examples

    def collate(examples: list) -> dict[str, torch.Tensor]:
        return encode_ranking_examples(tokenizer, examples, max_length=max_length)

    return collate


def _pair_collate(tokenizer, max_length: int, statement: str = "probe") -> Callable[[list], dict]:
    from nlp_underspec.models.cross_encoder_head import encode_pair_examples

    def collate(examples: list) -> dict[str, torch.Tensor]:
        return encode_pair_examples(tokenizer, examples, max_length=max_length, statement=statement)

    return collate


def _substitution_collate(tokenizer, max_length: int) -> Callable[[list], dict]:
    return _pair_collate(tokenizer, max_length, "substitution")


TASK_REGISTRY: dict[str, Task] = {
    "stsb": Task("stsb", _load_sts_examples,
                 {"cross_encoder": Head(_build_sts_model, _sts_collate),
                  "bi_encoder": Head(_build_bi_encoder, _bi_encoder_collate)},
                 predictions=lambda output: output.logits.reshape(len(output.logits), -1)[:, 0], score=score_sts),
    "coref": Task("coref", _load_coref_examples,
                  {"span_pair": Head(_build_coref_model, _coref_collate),
                   "ranking": Head(_build_ranker, _ranking_collate),
                   "cross_encoder": Head(_build_candidate_cross_encoder, _pair_collate),
                   "substitution": Head(_build_substitution_cross_encoder, _substitution_collate)},
                  predictions=lambda output: output.logits, score=score_coref),
}


def get_task(name: str) -> Task:
    if name not in TASK_REGISTRY:
        raise UsageError(unknown_name_message("task", name, TASK_REGISTRY))
    return TASK_REGISTRY[name]


def gold(example) -> float:
    return example[2] if isinstance(example, tuple) else example.label
