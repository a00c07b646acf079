"""Winogender resolvers: P(pronoun -> occupation) for each sentence, from a checkpoint.

- ``mlm_probe`` (any masked-LM, pretrained or fine-tuned with the coref ``ranking`` head): the sentence stays as
  written, so the pronoun keeps its gender, and a probe naming the antecedent is appended with the candidate's tokens
  masked ("... she could pay with cash. She is the [MASK]."; "They are ..."; "someone" without an article). A
  candidate's score is the mean log-probability of its own tokens at those positions (the only tokens that differ
  between the candidates: averaging over the whole probe would divide the evidence by its length and give a
  candidate with a shorter probe an offset); P(occupation) = softmax over the two candidates. Identical masked texts
  run once (single-token candidates of one sentence share one), and the vocabulary head is applied at the masked
  positions only. The scoring is :func:`nlp_underspec.models.ranking_head.candidate_scores`, which the ranking head
  trains.
- ``coref_head`` (our :class:`~nlp_underspec.models.span_pair_head.BertForCandidateScoring`): candidate 0 = occupation,
  1 = participant, spans located in the sentence; P(occupation) = the head's softmax.
- ``cross_encoder`` (a model fine-tuned with the coref ``cross_encoder`` or ``substitution`` head, marked
  ``candidate_cross_encoder``): the sentence with its pronoun marked, paired with "She is the nurse." and with "She
  is the patient." (or, for ``substitution``, with the sentence whose pronoun is replaced by each candidate: the form
  recorded in its config), each pair scored by the classifier; P(occupation) = the softmax over the two, as the head
  was trained (:func:`nlp_underspec.models.cross_encoder_head.encode_pair_examples`).

More resolvers plug in with :func:`register_resolver`; ``auto`` prefers ``coref_head``, then ``cross_encoder``, then
``mlm_probe``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from nlp_underspec import models
from nlp_underspec.data.occupations import OCCUPATIONS
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.models import check_distinct_words, check_known_words, check_mask_token, max_tokens
from nlp_underspec.stress.base import PredictOptions
from nlp_underspec.stress.encoding import sorted_batches
from nlp_underspec.stress.winogender.data import NOMINATIVE, candidate_phrase, coref_example

NO_RESOLVER = ("{checkpoint} has neither a masked-LM head nor a pronoun-resolution head, so winogender cannot score it. "
               "Evaluate its pretrained MLM checkpoint (mlm_probe resolver) or a model fine-tuned with "
               "`nlp-underspec finetune` on the coref task (coref_head or cross_encoder resolver).")
RESOLVER_NEEDS_HEAD = ("Resolver '{resolver}' needs {what}, which {checkpoint} lacks (architectures: {architectures}). "
                       "Use --resolver auto.")

Resolver = Callable[[str, pd.DataFrame, PredictOptions], np.ndarray]
RESOLVERS: dict[str, Resolver] = {}


def register_resolver(name: str):
    """Decorator: ``fn(checkpoint, label_info, options) -> P(occupation) (n_items,)`` available as ``--resolver name``."""

    def wrap(fn: Resolver) -> Resolver:
        RESOLVERS[name] = fn
        return fn

    return wrap


def choose_resolver(checkpoint: str, requested: str, *, trust_remote_code: bool = False) -> str:
    if requested != "auto" and requested not in RESOLVERS:
        raise UsageError(unknown_name_message("resolver", requested, ["auto", *RESOLVERS]))
    caps = models.detect_capabilities(models.load_config(checkpoint, trust_remote_code=trust_remote_code))
    has = {"coref_head": caps.candidate_scorer, "cross_encoder": caps.candidate_cross_encoder, "mlm_probe": caps.mlm}
    if requested == "auto":
        for name in ("coref_head", "cross_encoder", "mlm_probe"):
            if has[name]:
                return name
        raise UsageError(NO_RESOLVER.format(checkpoint=checkpoint))
    if requested in has and not has[requested]:
        what = {"coref_head": "our candidate-scoring head", "cross_encoder": "a coref cross-encoder head (finetune "
                "--task coref with head: cross_encoder or substitution)", "mlm_probe": "a masked-LM head"}[requested]
        raise UsageError(RESOLVER_NEEDS_HEAD.format(resolver=requested, what=what, checkpoint=checkpoint,
                                                    architectures=", ".join(caps.architectures) or "none"))
    return requested


MLM_PROBE = "the mlm_probe resolver"


def probe_words(occupations=OCCUPATIONS) -> list[str]:
    """The words the MLM probe cannot do without: the probe's pronouns as it writes them (they carry the gender it
    tests) and the occupations it masks. Participants are left out: an unknown one still loses to the occupation
    on evidence of its own, while an unknown occupation or pronoun is no evidence at all."""
    return [pronoun.capitalize() for pronoun in NOMINATIVE.values()] + [str(o) for o in occupations]


def check_probe_vocabulary(tokenizer, checkpoint: str, occupations=OCCUPATIONS, pairs=()) -> None:
    """Refuse a tokenizer without a mask token, one that turns a pronoun or occupation of the probe into its unknown
    token, or one that encodes two words the probe compares alike: its pronouns (they carry the gender it tests), or
    a sentence's occupation and participant (``pairs``: the two candidates it weighs)."""
    check_mask_token(tokenizer, checkpoint, what=MLM_PROBE)
    check_known_words(tokenizer, probe_words(occupations), checkpoint, what=MLM_PROBE)
    check_distinct_words(tokenizer, [pronoun.capitalize() for pronoun in NOMINATIVE.values()], checkpoint,
                         what=MLM_PROBE)
    for occupation, participant in dict.fromkeys(pairs):
        check_distinct_words(tokenizer, [str(occupation), str(participant)], checkpoint, what=MLM_PROBE)


def check_resolver(checkpoint: str, resolver: str, options: PredictOptions) -> None:
    """What a resolver needs of a checkpoint beyond its head, checked before any model loads: the MLM probe's
    words in its tokenizer."""
    if resolver == "mlm_probe":
        tokenizer = models.load_tokenizer(checkpoint, trust_remote_code=options.trust_remote_code,
                                          need_offsets=MLM_PROBE)
        check_probe_vocabulary(tokenizer, checkpoint)


def probe_sentence(gender: str, candidate: str) -> str:
    """The appended probe that names one candidate with the sentence's pronoun in nominative form.

    >>> probe_sentence("female", "technician"), probe_sentence("neutral", "someone")
    ('She is the technician.', 'They are someone.')
    """
    pronoun = NOMINATIVE[gender]
    verb = "are" if gender == "neutral" else "is"
    return f"{pronoun.capitalize()} {verb} {candidate_phrase(candidate)}."


def ranked_probabilities(model, tokenizer, examples: list, *, batch_size: int, device, progress: bool = True,
                         desc: str = "mlm probe") -> np.ndarray:
    """Softmax over each example's candidates of :func:`~nlp_underspec.models.ranking_head.candidate_scores`:
    (n, C)."""
    import torch
    from tqdm.auto import tqdm

    from nlp_underspec.models.ranking_head import candidate_scores, encode_ranking_examples

    limit = max_tokens(model, tokenizer)
    out = None
    with torch.inference_mode(), tqdm(total=len(examples), desc=desc, unit="sentence", leave=False,
                                      disable=not progress or None) as bar:
        for rows in sorted_batches([len(e.text) for e in examples], batch_size):
            batch = encode_ranking_examples(tokenizer, [examples[i] for i in rows], max_length=limit)
            batch.pop("labels", None)
            scores = candidate_scores(model, {k: v.to(device) for k, v in batch.items()})  # (B, C)
            probabilities = torch.softmax(scores, dim=-1).cpu().numpy()
            if out is None:
                out = np.empty((len(examples), probabilities.shape[1]), dtype=np.float64)
            out[rows] = probabilities
            bar.update(len(rows))
    return out if out is not None else np.empty((0, 2), dtype=np.float64)


@register_resolver("mlm_probe")
def mlm_probe(checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> np.ndarray:
    examples = [coref_example(row) for row in label_info.to_dict("records")]
    device = models.pick_device(options.device)
    with models.loaded(checkpoint, "mlm", trust_remote_code=options.trust_remote_code, device=str(device),
                       need_offsets=MLM_PROBE) as (model, tokenizer):
        check_probe_vocabulary(tokenizer, checkpoint, pd.unique(label_info["occupation"]),
                               zip(label_info["occupation"], label_info["participant"]))
        probabilities = ranked_probabilities(model, tokenizer, examples, batch_size=options.batch_size, device=device,
                                             progress=options.progress, desc=f"winogender mlm_probe {checkpoint}")
    return probabilities[:, 0]  # P(occupation): candidate 0


def occupation_probabilities(score, encode, examples: list, *, batch_size: int, device) -> np.ndarray:
    """P(candidate 0 = occupation) per example: ``encode(examples) -> batch`` then ``score(**batch) -> (B, C)``
    logits, softmaxed over the candidates, batched by length (the loop every candidate-scoring resolver runs)."""
    import torch

    out = np.empty(len(examples), dtype=np.float64)
    with torch.inference_mode():
        for rows in sorted_batches([len(e.text) for e in examples], batch_size):
            batch = encode([examples[i] for i in rows])
            batch.pop("labels", None)
            logits = score(**{k: v.to(device) for k, v in batch.items()}).logits  # (B, C)
            out[rows] = torch.softmax(logits.float(), dim=-1)[:, 0].cpu().numpy()
    return out


@register_resolver("coref_head")
def coref_head(checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> np.ndarray:
    from nlp_underspec import models
    from nlp_underspec.models.span_pair_head import encode_candidate_examples

    examples = [coref_example(row) for row in label_info.to_dict("records")]
    device = models.pick_device(options.device)
    with models.loaded(checkpoint, "coref", trust_remote_code=options.trust_remote_code, device=str(device),
                       need_offsets="the coref_head resolver") as (model, tokenizer):
        limit = models.max_tokens(model, tokenizer)
        return occupation_probabilities(
            model, lambda rows: encode_candidate_examples(tokenizer, rows, max_length=limit), examples,
            batch_size=options.batch_size, device=device)


@register_resolver("cross_encoder")
def cross_encoder(checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> np.ndarray:
    from nlp_underspec import models
    from nlp_underspec.models.cross_encoder_head import CandidateCrossEncoder, encode_pair_examples
    from nlp_underspec.models.head_markers import trained_pair_statement

    examples = [coref_example(row) for row in label_info.to_dict("records")]
    device = models.pick_device(options.device)
    with models.loaded(checkpoint, "cross", trust_remote_code=options.trust_remote_code,
                       device=str(device)) as (model, tokenizer):
        statement = trained_pair_statement(model.config, checkpoint)
        limit = models.max_tokens(model, tokenizer)
        return occupation_probabilities(
            CandidateCrossEncoder(model, statement),
            lambda rows: encode_pair_examples(tokenizer, rows, max_length=limit, statement=statement), examples,
            batch_size=options.batch_size, device=device)
