"""The markers a fine-tuned checkpoint's config.json carries (``nlp_underspec_head``, and the cross-encoder's
``nlp_underspec_pair_statement``), so loaders tell our heads apart without loading any weights."""

from __future__ import annotations

from nlp_underspec.errors import UsageError
from nlp_underspec.models.probe_text import PAIR_STATEMENTS

CANDIDATE_HEAD = "candidate_scoring"  # recorded in config.nlp_underspec_head so loaders can detect the head
RANKING_HEAD = "candidate_ranking"  # a masked LM fine-tuned by CandidateRanker
BI_ENCODER_HEAD = "sts_bi_encoder"  # an encoder fine-tuned by CosineSimilarityRegressor
CROSS_ENCODER_HEAD = "candidate_cross_encoder"  # a one-output sequence classifier fine-tuned by CandidateCrossEncoder
UNKNOWN_PAIR_STATEMENT = ("{checkpoint} records nlp_underspec_pair_statement {value!r} in its config.json; known: "
                          "probe, substitution. Re-run the fine-tuning, or fix that field.")


def is_candidate_scorer(config) -> bool:
    """Whether a checkpoint's config describes our candidate-scoring head."""
    return getattr(config, "nlp_underspec_head", None) == CANDIDATE_HEAD or \
        "BertForCandidateScoring" in (getattr(config, "architectures", None) or [])


def trained_pair_statement(config, checkpoint: str) -> str:
    """The statement form a coref cross-encoder was trained with (``probe`` for checkpoints that do not say)."""
    value = getattr(config, "nlp_underspec_pair_statement", "probe")
    if value not in PAIR_STATEMENTS:
        raise UsageError(UNKNOWN_PAIR_STATEMENT.format(checkpoint=checkpoint, value=value))
    return value


def is_candidate_cross_encoder(config) -> bool:
    """Whether a checkpoint's config describes a coref cross-encoder (not an STS one)."""
    return getattr(config, "nlp_underspec_head", None) == CROSS_ENCODER_HEAD
