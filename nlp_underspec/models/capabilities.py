"""What a checkpoint can do, read from its config: a cross-encoder (sequence-classification head with one label), an
encoder usable as a bi-encoder (every encoder; never a causal LM), a masked-LM head, our candidate-scoring head, our
coref cross-encoder."""

from __future__ import annotations

from dataclasses import dataclass

from nlp_underspec.errors import UsageError
from nlp_underspec.models.head_markers import is_candidate_cross_encoder, is_candidate_scorer

NOT_AN_ENCODER = ("{checkpoint} is a causal (left-to-right) language model ({detail}): each token sees only the "
                  "tokens before it, so its mean-pooled states are no sentence embedding and it cannot serve as a "
                  "bi-encoder. Pass an encoder (BERT-style) checkpoint.")


@dataclass(frozen=True)
class Capabilities:
    """What a checkpoint's saved heads allow. ``encoder`` is true for every encoder (mean pooling + cosine)."""

    architectures: tuple[str, ...]
    model_type: str
    cross_encoder: bool
    encoder: bool
    mlm: bool
    candidate_scorer: bool
    candidate_cross_encoder: bool = False  # a coref cross-encoder: a sequence classifier that is no STS scorer


def detect_capabilities(config) -> Capabilities:
    """Read the heads from ``config.architectures`` (+ ``num_labels``) and our head marker.

    >>> from transformers import BertConfig
    >>> caps = detect_capabilities(BertConfig(architectures=["BertForSequenceClassification"], num_labels=1))
    >>> caps.cross_encoder, caps.mlm, caps.encoder
    (True, False, True)
    """
    architectures = tuple(getattr(config, "architectures", None) or ())
    mlm = any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in architectures)
    classifier = any(a.endswith("ForSequenceClassification") for a in architectures) and int(config.num_labels) == 1
    pairs = classifier and is_candidate_cross_encoder(config)
    return Capabilities(architectures=architectures, model_type=str(getattr(config, "model_type", "")),
                        cross_encoder=classifier and not pairs, encoder=not causal_lm_detail(config), mlm=mlm,
                        candidate_scorer=bool(is_candidate_scorer(config)), candidate_cross_encoder=pairs)


_CAUSAL_ARCHITECTURES = ("ForCausalLM", "LMHeadModel")


def causal_lm_detail(config) -> str | None:
    """Why ``config`` describes a left-to-right language model (None when it does not).

    GPT-2's config has no ``is_decoder`` at all, so the flag alone misses the commonest causal LM: the architectures
    and a ``model_type`` that transformers knows only as a causal LM count too.

    >>> from transformers import BertConfig, GPT2Config
    >>> causal_lm_detail(BertConfig()), causal_lm_detail(GPT2Config())
    (None, "model_type 'gpt2', a causal LM only")
    """
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    if getattr(config, "is_decoder", False) and not getattr(config, "add_cross_attention", False):
        return "is_decoder: true"
    causal = [a for a in getattr(config, "architectures", None) or () if a.endswith(_CAUSAL_ARCHITECTURES)]
    if causal:
        return f"architectures: {', '.join(causal)}"
    model_type = str(getattr(config, "model_type", ""))
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return f"model_type '{model_type}', a causal LM only"
    return None


def require_encoder(checkpoint: str, config) -> None:
    """Refuse a causal LM where an encoder is needed (the bi-encoder scorer)."""
    detail = causal_lm_detail(config)
    if detail:
        raise UsageError(NOT_AN_ENCODER.format(checkpoint=checkpoint, detail=detail))
