"""Winogender resolvers: P(pronoun -> occupation) for each sentence, from a checkpoint.

- ``mlm_probe`` (any masked-LM): the sentence stays as written, so the pronoun keeps its gender, and a probe naming one
  candidate is appended ("... she could pay with cash. She is the technician." / "... She is the customer.";
  "They are ..."; "someone" without an article). A candidate's score is the pseudo-log-likelihood of the probe tokens
  given everything else (one probe token masked at a time), divided by the number of probe tokens;
  P(occupation) = softmax over the two candidates. All masked copies of all probes run in length-sorted batches, and
  the vocabulary head is applied at the masked position only.
- ``coref_head`` (our :class:`~nlp_underspec.modeling.BertForCandidateScoring`): candidate 0 = occupation,
  1 = participant, spans located in the sentence; P(occupation) = the head's softmax.

More resolvers plug in with :func:`register_resolver`; ``auto`` prefers ``coref_head``, then ``mlm_probe``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from nlp_underspec.data.winogender import NOMINATIVE, candidate_phrase, coref_example
from nlp_underspec.errors import UsageError, unknown_name_message
from nlp_underspec.stress.base import PredictOptions

NO_RESOLVER = ("{checkpoint} has neither a masked-LM head nor a pronoun-resolution head, so winogender cannot score it. "
               "Evaluate its pretrained MLM checkpoint (mlm_probe resolver) or a model fine-tuned with "
               "`nlp-underspec finetune` on the coref task (coref_head resolver).")
RESOLVER_NEEDS_HEAD = ("Resolver '{resolver}' needs {what}, which {checkpoint} lacks (architectures: {architectures}). "
                       "Use --resolver auto.")
PROBE_TOO_LONG = ("The mlm_probe text '{text}' is longer than the model's {limit} tokens, so its probe would be cut off. "
                  "Use a model with more positions, or shorter sentences.")

Resolver = Callable[[str, pd.DataFrame, PredictOptions], np.ndarray]
RESOLVERS: dict[str, Resolver] = {}


def register_resolver(name: str):
    """Decorator: ``fn(checkpoint, label_info, options) -> P(occupation) (n_items,)`` available as ``--resolver name``."""

    def wrap(fn: Resolver) -> Resolver:
        RESOLVERS[name] = fn
        return fn

    return wrap


def choose_resolver(checkpoint: str, requested: str, *, trust_remote_code: bool = False) -> str:
    from nlp_underspec import models

    if requested != "auto" and requested not in RESOLVERS:
        raise UsageError(unknown_name_message("resolver", requested, ["auto", *RESOLVERS]))
    caps = models.detect_capabilities(models.load_config(checkpoint, trust_remote_code=trust_remote_code))
    has = {"coref_head": caps.candidate_scorer, "mlm_probe": caps.mlm}
    if requested == "auto":
        for name in ("coref_head", "mlm_probe"):
            if has[name]:
                return name
        raise UsageError(NO_RESOLVER.format(checkpoint=checkpoint))
    if requested in has and not has[requested]:
        what = "our candidate-scoring head" if requested == "coref_head" else "a masked-LM head"
        raise UsageError(RESOLVER_NEEDS_HEAD.format(resolver=requested, what=what, checkpoint=checkpoint,
                                                    architectures=", ".join(caps.architectures) or "none"))
    return requested


def probe_sentence(gender: str, candidate: str) -> str:
    """The appended probe that names one candidate with the sentence's pronoun in nominative form.

    >>> probe_sentence("female", "technician"), probe_sentence("neutral", "someone")
    ('She is the technician.', 'They are someone.')
    """
    pronoun = NOMINATIVE[gender]
    verb = "are" if gender == "neutral" else "is"
    return f"{pronoun.capitalize()} {verb} {candidate_phrase(candidate)}."


def _masked_copies(encodings: list[dict], probe_starts: list[int], mask_id: int):
    """One copy of each probe text per probe token, that token masked; and each copy's (text, position, target)."""
    copies, owner, position, target = [], [], [], []
    for index, (encoding, start) in enumerate(zip(encodings, probe_starts)):
        ids = encoding["input_ids"]
        for k, (first, last) in enumerate(encoding["offset_mapping"]):
            if first >= start and last > first:  # a real token inside the probe (special tokens have (0, 0))
                masked = {key: value for key, value in encoding.items() if key != "offset_mapping"}
                masked["input_ids"] = ids[:k] + [mask_id] + ids[k + 1:]
                copies.append(masked)
                owner.append(index)
                position.append(k)
                target.append(ids[k])
    return copies, np.asarray(owner), np.asarray(position), np.asarray(target)


def _mlm_parts(model):
    """(encoder, vocabulary head) for BERT- and RoBERTa-style models, so the head runs on masked positions only."""
    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "cls", None) or getattr(model, "lm_head", None)
    return (encoder, head) if encoder is not None and head is not None else (None, None)


def probe_scores(model, tokenizer, texts: list[str], probe_starts: list[int], *, batch_size: int, device,
                 progress: bool = True, desc: str = "mlm probe") -> np.ndarray:
    """Mean log-probability of the probe tokens of each text (one masked at a time): (len(texts),)."""
    import torch

    from nlp_underspec.models import max_tokens
    from nlp_underspec.stress.encoding import run_sorted, tokenize

    limit = max_tokens(model, tokenizer)
    encodings = tokenize(tokenizer, texts, max_length=limit, offsets=True)
    _check_probe_fits(tokenizer, texts, encodings, limit)
    copies, owner, position, target = _masked_copies(encodings, probe_starts, tokenizer.mask_token_id)
    encoder, head = _mlm_parts(model)
    position_t, target_t = torch.as_tensor(position, device=device), torch.as_tensor(target, device=device)

    def forward(batch, rows):
        rows_t = torch.as_tensor(rows, device=device)
        at, want = position_t[rows_t], target_t[rows_t]  # (B,), (B,)
        arange = torch.arange(len(rows), device=device)
        if head is not None:
            hidden = encoder(**batch).last_hidden_state[arange, at]  # (B, H)
            logits = head(hidden)  # (B, V)
        else:
            logits = model(**batch).logits[arange, at]  # (B, V)
        return torch.log_softmax(logits.float(), dim=-1)[arange, want]  # (B,)

    token_logp = run_sorted(copies, forward, tokenizer=tokenizer, batch_size=batch_size, device=device, desc=desc,
                            progress=progress)  # (copies,)
    totals = np.bincount(owner, weights=token_logp, minlength=len(texts))
    counts = np.bincount(owner, minlength=len(texts))
    return totals / np.maximum(counts, 1)


def _check_probe_fits(tokenizer, texts: list[str], encodings: list[dict], limit: int) -> None:
    """The probe sits at the end of each text: cutting the text to the model's length would score a partial probe."""
    for text, encoding in zip(texts, encodings):
        if len(encoding["input_ids"]) >= limit and len(tokenizer(text)["input_ids"]) > limit:
            raise UsageError(PROBE_TOO_LONG.format(text=text, limit=limit))


@register_resolver("mlm_probe")
def mlm_probe(checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> np.ndarray:
    from nlp_underspec import models

    texts, starts = [], []
    for sentence, gender, occupation, participant in zip(label_info["sentence"], label_info["gender"],
                                                         label_info["occupation"], label_info["participant"]):
        for candidate in (occupation, participant):
            texts.append(f"{sentence} {probe_sentence(gender, candidate)}")
            starts.append(len(sentence) + 1)
    device = models.pick_device(options.device)
    with models.loaded(checkpoint, "mlm", trust_remote_code=options.trust_remote_code, device=str(device),
                       need_offsets="the mlm_probe resolver") as (model, tokenizer):
        scores = probe_scores(model, tokenizer, texts, starts, batch_size=options.batch_size, device=device,
                              progress=options.progress, desc=f"winogender mlm_probe {checkpoint}")
    scores = scores.reshape(-1, 2)  # (sentences, [occupation, participant])
    return 1.0 / (1.0 + np.exp(scores[:, 1] - scores[:, 0]))  # softmax over the two, P(occupation)


@register_resolver("coref_head")
def coref_head(checkpoint: str, label_info: pd.DataFrame, options: PredictOptions) -> np.ndarray:
    import torch

    from nlp_underspec import models
    from nlp_underspec.modeling import encode_candidate_examples
    from nlp_underspec.stress.encoding import sorted_batches

    examples = [coref_example(row) for row in label_info.to_dict("records")]
    device = models.pick_device(options.device)
    out = np.empty(len(examples), dtype=np.float64)
    with models.loaded(checkpoint, "coref", trust_remote_code=options.trust_remote_code, device=str(device),
                       need_offsets="the coref_head resolver") as (model, tokenizer), torch.inference_mode():
        limit = models.max_tokens(model, tokenizer)
        for rows in sorted_batches([len(e.text) for e in examples], options.batch_size):
            batch = encode_candidate_examples(tokenizer, [examples[i] for i in rows], max_length=limit)
            batch.pop("labels", None)
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits  # (B, C)
            out[rows] = torch.softmax(logits.float(), dim=-1)[:, 0].cpu().numpy()
    return out
